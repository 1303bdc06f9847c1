package instance

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/graph"
)

// Identities: the clients children are written with. The engine's own, or,
// when an RGD names a ServiceAccount (Kind.ServiceAccount), clients that
// impersonate it. Watches and the instance's own writes always use the
// engine's identity.

// Identities builds the engine's REST client and, lazily, one client per
// ServiceAccount that impersonates it. Every client shares the engine's
// transport (one connection pool, the request counter and authentication of
// its rest.Config) and one rate limiter.
type Identities struct {
	// cfg is the config of the dynamic REST client, with the shared rate
	// limiter.
	cfg    *rest.Config
	client *http.Client
	engine *rest.RESTClient

	mu sync.Mutex
	// byName holds the clients of each ServiceAccount, by NAMESPACE/NAME.
	byName map[string]actor
}

// NewIdentities builds the engine's REST client from cfg (see RESTClientFor)
// and prepares the ServiceAccounts' clients.
func NewIdentities(cfg *rest.Config) (*Identities, error) {
	c := dynamic.ConfigFor(cfg)
	c.GroupVersion = nil
	if c.RateLimiter == nil && c.QPS >= 0 {
		qps, burst := c.QPS, c.Burst
		if qps == 0 {
			qps = rest.DefaultQPS
		}
		if burst == 0 {
			burst = rest.DefaultBurst
		}
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(qps, burst)
	}
	client, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("HTTP client: %w", err)
	}
	engine, err := rest.UnversionedRESTClientForConfigAndClient(c, client)
	if err != nil {
		return nil, fmt.Errorf("REST client: %w", err)
	}
	return &Identities{cfg: c, client: client, engine: engine, byName: map[string]actor{}}, nil
}

// Engine returns the engine's own REST client, for Options.Client and
// dynamic.New.
func (ids *Identities) Engine() *rest.RESTClient { return ids.engine }

// ServiceAccountUser is the user name a ServiceAccount acts as.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// actor returns the clients that act as the ServiceAccount namespace/name,
// built once and shared by every instance that uses it.
func (ids *Identities) actor(namespace, name string) (actor, error) {
	sa := namespace + "/" + name
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if a, ok := ids.byName[sa]; ok {
		return a, nil
	}
	client := &http.Client{
		Transport: transport.NewImpersonatingRoundTripper(transport.ImpersonationConfig{UserName: ServiceAccountUser(namespace, name)}, ids.client.Transport),
		Timeout:   ids.client.Timeout,
	}
	rc, err := rest.UnversionedRESTClientForConfigAndClient(ids.cfg, client)
	if err != nil {
		return actor{}, fmt.Errorf("client for serviceaccount %s: %w", sa, err)
	}
	a := actor{sa: sa, dyn: dynamic.New(rc), rest: rc}
	ids.byName[sa] = a
	return a, nil
}

// actor is an identity children are written with, and its clients.
type actor struct {
	// sa is the ServiceAccount as NAMESPACE/NAME; "" for the engine's own
	// identity.
	sa   string
	dyn  dynamic.Interface
	rest rest.Interface // nil: answers' codes are not read (see Options.Client)
}

// engineActor is the engine's own identity.
func (r *Reconciler) engineActor() actor {
	return actor{dyn: r.dyn, rest: r.opts.Client}
}

// actorFor returns the identity a kind's children are written with for an
// instance in instanceNamespace.
func (r *Reconciler) actorFor(sa *graph.ServiceAccount, instanceNamespace string) (actor, error) {
	if sa == nil {
		return r.engineActor(), nil
	}
	namespace, name, err := sa.For(instanceNamespace)
	if err != nil {
		return actor{}, err
	}
	return r.actorNamed(namespace, name)
}

// actorOf returns the identity an inventory entry records for its child.
func (r *Reconciler) actorOf(e inventory.Entry) (actor, error) {
	if e.SA == "" {
		return r.engineActor(), nil
	}
	namespace, name, ok := strings.Cut(e.SA, "/")
	if !ok || namespace == "" || name == "" {
		return actor{}, fmt.Errorf("inventory entry of %s records the serviceaccount %q, which is not NAMESPACE/NAME", e, e.SA)
	}
	return r.actorNamed(namespace, name)
}

func (r *Reconciler) actorNamed(namespace, name string) (actor, error) {
	if r.opts.Identities == nil {
		return actor{}, fmt.Errorf("serviceaccount %s/%s: this engine cannot impersonate (no Options.Identities)", namespace, name)
	}
	return r.opts.Identities.actor(namespace, name)
}

// forbiddenError is a request the API server refused to a ServiceAccount
// rgd acts as: it names the ServiceAccount, the verb, the kind and the
// namespace. It is retried with backoff as the same ServiceAccount (see
// retryable), never with the engine's identity, so that granting the
// permission heals the instance.
type forbiddenError struct {
	sa, verb string
	entry    inventory.Entry
	err      error
}

// Error says who may not do what where, then the API server's answer.
func (e *forbiddenError) Error() string {
	where := "cluster-wide"
	if e.entry.Namespace != "" {
		where = "in namespace " + e.entry.Namespace
	}
	return fmt.Sprintf("serviceaccount %s may not %s %s %s %s: %v", e.sa, e.verb, e.entry.APIVersion, e.entry.Kind, where, e.err)
}

// Unwrap returns the API server's answer.
func (e *forbiddenError) Unwrap() error { return e.err }

// refused wraps err in a forbiddenError when the API server refused verb on
// e's child to a ServiceAccount; any other error is returned as it is.
func (a actor) refused(err error, verb string, e inventory.Entry) error {
	if a.sa == "" || !apierrors.IsForbidden(err) {
		return err
	}
	var already *forbiddenError
	if errors.As(err, &already) {
		return err
	}
	return &forbiddenError{sa: a.sa, verb: verb, entry: e, err: err}
}
