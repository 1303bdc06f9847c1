package registrar

import (
	"context"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
)

// watchProbeInterval is how often waitWatchable asks again while the API
// server is still initialising the kind's watch cache.
const watchProbeInterval = 50 * time.Millisecond

// probeName is a name no object has: the probe's watch matches nothing, so
// that opening it costs the server no initial events.
const probeName = "rgd-watch-probe.invalid"

// waitWatchable returns once the API server serves watches of crd's storage
// version. Right after a CRD is created or changed, kube-apiserver answers
// watches of its kind with 429 and "Retry-After: 1" until the kind's watch
// cache is initialised; an informer started in that window waits a whole
// second before it tries again, and the RGD would wait with it before it is
// Active. A probe every 50 ms moves on as soon as the cache serves. Any answer
// other than 429 ends the wait: the informer deals with the rest.
func (r *Registrar) waitWatchable(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) {
	if r.rest == nil {
		return
	}
	version := ""
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			version = v.Name
		}
	}
	if version == "" {
		return
	}
	// The only error is the deadline or the end of ctx: either way the
	// informer takes over from here.
	_ = wait.PollUntilContextTimeout(ctx, watchProbeInterval, r.establishTimeout, true, func(ctx context.Context) (bool, error) {
		return !watchRefused(ctx, r.rest, crd.Spec.Group, version, crd.Spec.Names.Plural), nil
	})
}

// watchRefused opens a watch of group/version/plural that matches no object,
// the way an informer opens one (initial events, then a bookmark), without
// client-go's retries, and reports whether the server answered 429.
func watchRefused(ctx context.Context, client rest.Interface, group, version, plural string) bool {
	stream, err := client.Get().AbsPath("/apis", group, version, plural).
		Param("watch", "true").
		Param("sendInitialEvents", "true").
		Param("resourceVersionMatch", "NotOlderThan").
		Param("allowWatchBookmarks", "true").
		Param("fieldSelector", "metadata.name="+probeName).
		Param("timeoutSeconds", "1").
		MaxRetries(0).
		Stream(ctx)
	if err != nil {
		return apierrors.IsTooManyRequests(err)
	}
	_ = stream.Close()
	return false
}
