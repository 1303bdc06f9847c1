package instance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/graph"
)

// TestIdentitiesShareTheEngineTransport checks that the clients of each
// ServiceAccount are built once, impersonate it, and send their requests
// through the engine's own transport (its wrappers, such as the request
// counter, see them), while the engine's client impersonates nobody.
func TestIdentitiesShareTheEngineTransport(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // Impersonate-User header -> requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen[req.Header.Get("Impersonate-User")]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"a"}}`))
	}))
	defer srv.Close()
	counted := 0
	cfg := &rest.Config{Host: srv.URL}
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			counted++
			mu.Unlock()
			return next.RoundTrip(req)
		})
	})
	ids, err := NewIdentities(cfg)
	require.NoError(t, err)
	r := &Reconciler{opts: Options{Identities: ids, Client: ids.Engine()}}

	tenant, err := r.actorFor(&graph.ServiceAccount{Name: "deployer"}, "a")
	require.NoError(t, err)
	again, err := r.actorOf(inventory.Entry{SA: "a/deployer"})
	require.NoError(t, err)
	assert.Same(t, tenant.rest, again.rest, "one client per ServiceAccount, shared")
	assert.Equal(t, "a/deployer", tenant.sa)
	fixed, err := r.actorFor(&graph.ServiceAccount{Namespace: "ops", Name: "deployer"}, "a")
	require.NoError(t, err)
	assert.NotSame(t, tenant.rest, fixed.rest)

	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	ctx := context.Background()
	for _, a := range []actor{tenant, again, fixed} {
		_, err := a.dyn.Resource(cms).Namespace("a").Get(ctx, "x", metav1.GetOptions{})
		require.NoError(t, err)
	}
	_, err = ids.Engine().Get().AbsPath("/api/v1/namespaces/a/configmaps/x").DoRaw(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"system:serviceaccount:a:deployer": 2, "system:serviceaccount:ops:deployer": 1, "": 1}, seen)
	assert.Equal(t, 4, counted, "every request goes through the engine's transport")
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestIdentityErrors checks what a refusal to a ServiceAccount says, that
// only a ServiceAccount's Forbidden is reworded, and that a ServiceAccount
// that cannot be resolved is an error rather than the engine's identity.
func TestIdentityErrors(t *testing.T) {
	dep := inventory.Entry{APIVersion: "apps/v1", Kind: "Deployment", Resource: "deployments", Namespace: "tenant-a", Name: "web"}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", nil)
	err := actor{sa: "tenant-a/deployer"}.refused(forbidden, "create", dep)
	assert.ErrorContains(t, err, "serviceaccount tenant-a/deployer may not create apps/v1 Deployment in namespace tenant-a: ")
	assert.True(t, apierrors.IsForbidden(err), "the API server's answer is kept")
	assert.True(t, retryable(err), "retried with backoff, as the same ServiceAccount")
	assert.Same(t, err, actor{sa: "tenant-a/deployer"}.refused(err, "patch", dep), "not wrapped twice")

	ns := inventory.Entry{APIVersion: "v1", Kind: "Namespace", Resource: "namespaces", Name: "tenant-b"}
	assert.ErrorContains(t, actor{sa: "tenant-a/deployer"}.refused(forbidden, "delete", ns), "may not delete v1 Namespace cluster-wide")
	assert.Same(t, forbidden, actor{}.refused(forbidden, "create", dep), "the engine's own refusals are left as they are")
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "x")
	assert.Same(t, notFound, actor{sa: "a/b"}.refused(notFound, "create", dep))

	r := &Reconciler{}
	_, err = r.actorFor(&graph.ServiceAccount{Name: "deployer"}, "")
	assert.ErrorContains(t, err, "cluster-scoped")
	_, err = r.actorFor(&graph.ServiceAccount{Name: "deployer"}, "a")
	assert.ErrorContains(t, err, "cannot impersonate")
	_, err = r.actorOf(inventory.Entry{SA: "no-slash"})
	assert.ErrorContains(t, err, "not NAMESPACE/NAME")
	engine, err := r.actorFor(nil, "a")
	require.NoError(t, err)
	assert.Empty(t, engine.sa)
}
