package registrar

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/client-go/rest"
)

// probeServer answers the first refusals watch requests with 429, as
// kube-apiserver does while a kind's watch cache initialises (it says
// "Retry-After: 1"; this server says an hour, so that a probe that honoured it
// would never get through), then with final. It records every request's URL.
func probeServer(t *testing.T, refusals, final int, onRequest func(n int)) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, req.URL.String())
		n := len(seen)
		mu.Unlock()
		if onRequest != nil {
			onRequest(n)
		}
		w.Header().Set("Content-Type", "application/json")
		if n <= refusals {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"storage is (re)initializing","reason":"TooManyRequests","code":429}`))
			return
		}
		w.WriteHeader(final)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func probeCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{Spec: apiextensionsv1.CustomResourceDefinitionSpec{
		Group: "kro.run",
		Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "webapps"},
		Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
			{Name: "v1alpha0", Served: true},
			{Name: "v1alpha1", Served: true, Storage: true},
		},
	}}
}

// TestWaitWatchableProbesUntilServed checks that the wait asks again, without
// honouring the server's Retry-After, until the watch is no longer
// refused, and that its watch is the informer's kind of watch matching no
// object, on the storage version.
func TestWaitWatchableProbesUntilServed(t *testing.T) {
	srv, seen := probeServer(t, 3, http.StatusOK, nil)
	cs, err := apiextensionsclientset.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	// The deadline only keeps a broken probe from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	New(cs, Options{}).waitWatchable(ctx, probeCRD())

	urls := seen()
	require.Len(t, urls, 4, "three refusals, then the watch that opened")
	for _, u := range urls {
		assert.Contains(t, u, "/apis/kro.run/v1alpha1/webapps?")
		assert.Contains(t, u, "watch=true")
		assert.Contains(t, u, "sendInitialEvents=true")
		assert.Contains(t, u, "fieldSelector=metadata.name%3D"+probeName)
	}
}

// TestWaitWatchableStopsOnOtherAnswers checks that an answer other than 429
// ends the wait at once: the informer handles errors itself.
func TestWaitWatchableStopsOnOtherAnswers(t *testing.T) {
	srv, seen := probeServer(t, 0, http.StatusForbidden, nil)
	cs, err := apiextensionsclientset.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	New(cs, Options{}).waitWatchable(context.Background(), probeCRD())
	assert.Len(t, seen(), 1)
}

// TestWaitWatchableEndsWithItsContext checks that a server that keeps
// refusing does not hold Ensure beyond its context.
func TestWaitWatchableEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, seen := probeServer(t, 1<<30, http.StatusOK, func(n int) {
		if n == 3 {
			cancel()
		}
	})
	cs, err := apiextensionsclientset.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	New(cs, Options{}).waitWatchable(ctx, probeCRD())
	assert.Len(t, seen(), 3, "no probe after the context ended")
}
