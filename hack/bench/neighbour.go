package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The neighbour's namespace, ServiceAccount (or impersonated user), Role and
// ConfigMaps.
const (
	neighbourNS    = "bench-neighbour"
	neighbourName  = "neighbour"
	neighbourUser  = "bench-neighbour"
	neighbourRead  = "neighbour-read"
	neighbourWrite = "neighbour-write"
	// neighbourMaxInFlight caps the neighbour's requests under way; a beat
	// beyond it is skipped (and counted).
	neighbourMaxInFlight = 100
)

// neighbour is a second client of the API server, with its own non-exempt
// identity and connection, that times a steady, modest load: GETs of one
// ConfigMap and merge patches of another, in its own namespace. It shows
// what the engine's requests do to the other clients of a shared API server.
type neighbour struct {
	cs   kubernetes.Interface
	opts neighbourOptions
	rec  *apfRecorder
	// names maps APF object UIDs to names.
	names map[string]string
	// who is the identity the API server sees.
	who string
	seq atomic.Int64
}

// newNeighbour creates the neighbour's namespace, objects and identity
// (with admin) and returns it once its identity may read its ConfigMaps.
func newNeighbour(ctx context.Context, admin kubernetes.Interface, adminCfg *rest.Config, o neighbourOptions) (*neighbour, error) {
	if err := ensureNamespace(ctx, admin, neighbourNS); err != nil {
		return nil, err
	}
	for _, name := range []string{neighbourRead, neighbourWrite} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: neighbourNS}, Data: map[string]string{"seq": "0"}}
		if _, err := admin.CoreV1().ConfigMaps(neighbourNS).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !isAlreadyExists(err) {
			return nil, fmt.Errorf("the neighbour's ConfigMap %s: %w", name, err)
		}
	}
	cfg, subject, err := neighbourConfig(ctx, admin, adminCfg, o.identity)
	if err != nil {
		return nil, err
	}
	if err := neighbourRole(ctx, admin, subject); err != nil {
		return nil, err
	}
	nb := &neighbour{opts: o, rec: &apfRecorder{}}
	// No client-side limit (the neighbour paces itself), and a connection
	// of its own: a Dial of its own keeps client-go from sharing the
	// harness's transport.
	cfg.QPS = -1
	cfg.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { nb.rec.next = rt; return nb.rec })
	if nb.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	read := authorizationv1.ResourceAttributes{Verb: "patch", Namespace: neighbourNS, Resource: "configmaps", Name: neighbourWrite}
	if err := waitAllowed(ctx, nb.cs, read); err != nil {
		return nil, fmt.Errorf("the neighbour: %w", err)
	}
	if nb.who, err = whoAmI(ctx, nb.cs); err != nil {
		return nil, err
	}
	if nb.names, err = apfNames(ctx, admin); err != nil {
		return nil, err
	}
	nb.rec.take()
	return nb, nil
}

// neighbourConfig returns the neighbour's client configuration and the
// RBAC subject it is: a token of ServiceAccount bench-neighbour/neighbour,
// or the admin impersonating user bench-neighbour (which the API server
// authorizes and classifies as that user, in group system:authenticated).
func neighbourConfig(ctx context.Context, admin kubernetes.Interface, adminCfg *rest.Config, identity string) (*rest.Config, rbacv1.Subject, error) {
	if identity == identityUser {
		cfg := rest.CopyConfig(adminCfg)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: neighbourUser}
		return cfg, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: neighbourUser}, nil
	}
	if err := ensureServiceAccount(ctx, admin, neighbourNS, neighbourName); err != nil {
		return nil, rbacv1.Subject{}, err
	}
	token, err := serviceAccountToken(ctx, admin, neighbourNS, neighbourName)
	if err != nil {
		return nil, rbacv1.Subject{}, err
	}
	cfg := rest.AnonymousClientConfig(adminCfg)
	cfg.BearerToken = token
	return cfg, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: neighbourName, Namespace: neighbourNS}, nil
}

// neighbourRole allows subject to read and patch ConfigMaps in the
// neighbour's namespace.
func neighbourRole(ctx context.Context, admin kubernetes.Interface, subject rbacv1.Subject) error {
	meta := metav1.ObjectMeta{Name: neighbourName, Namespace: neighbourNS}
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "patch"}}}
	_, err := admin.RbacV1().Roles(neighbourNS).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{})
	if err == nil || isAlreadyExists(err) {
		_, err = admin.RbacV1().RoleBindings(neighbourNS).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: meta,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: neighbourName},
			Subjects:   []rbacv1.Subject{subject},
		}, metav1.CreateOptions{})
	}
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("the neighbour's Role: %w", err)
	}
	return nil
}

// neighbourRun is one window of the neighbour's load.
type neighbourRun struct {
	nb     *neighbour
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu              sync.Mutex
	gets, writes    []time.Duration
	failed, skipped int
}

// neighbourResult is what one window measured.
type neighbourResult struct {
	// Gets and Writes summarize the latencies of the requests that succeeded.
	Gets, Writes summary
	// Failed requests returned an error; Skipped beats found
	// neighbourMaxInFlight requests under way; Throttled answers were 429
	// (client-go retries them, so they are in the latencies too).
	Failed, Skipped, Throttled int
	// ByLevel counts the answers by APF priority level.
	ByLevel Counts
	// Classes names the flow schemas and priority levels seen.
	Classes string
}

// start starts the load; nil (no neighbour) starts nothing.
func (nb *neighbour) start(ctx context.Context) *neighbourRun {
	if nb == nil {
		return nil
	}
	nb.rec.take()
	// The window ends with load; a request started then is finished
	// unless the whole run ends (ctx).
	load, cancel := context.WithCancel(ctx)
	r := &neighbourRun{nb: nb, cancel: cancel}
	r.wg.Add(2)
	go r.pace(load, ctx, nb.opts.gets, nb.get, &r.gets)
	go r.pace(load, ctx, nb.opts.writes, nb.write, &r.writes)
	return r
}

// stop ends the load, waits for the requests under way and returns what
// the window measured; a nil run gives the zero result.
func (r *neighbourRun) stop() neighbourResult {
	if r == nil {
		return neighbourResult{}
	}
	r.cancel()
	r.wg.Wait()
	classes, throttled := r.nb.rec.take()
	res := neighbourResult{Gets: summarize(r.gets), Writes: summarize(r.writes), Failed: r.failed, Skipped: r.skipped, Throttled: throttled}
	res.ByLevel, res.Classes = byLevel(classes, r.nb.names)
	return res
}

// pace starts do perSecond times a second, each in a goroutine of its own
// with a context from requests, until load ends, then waits for the
// requests under way. It is an open loop: a slow answer delays no later
// request, so a queue at the API server shows as latency, not as fewer
// requests.
func (r *neighbourRun) pace(load, requests context.Context, perSecond int, do func(context.Context) error, into *[]time.Duration) {
	defer r.wg.Done()
	if perSecond <= 0 {
		return
	}
	var inFlight atomic.Int32
	var started sync.WaitGroup
	defer started.Wait()
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	for {
		select {
		case <-load.Done():
			return
		case <-tick.C:
		}
		if inFlight.Load() >= neighbourMaxInFlight {
			r.mu.Lock()
			r.skipped++
			r.mu.Unlock()
			continue
		}
		inFlight.Add(1)
		started.Add(1)
		go func() {
			defer started.Done()
			defer inFlight.Add(-1)
			rctx, cancel := context.WithTimeout(requests, 30*time.Second)
			defer cancel()
			start := time.Now()
			err := do(rctx)
			took := time.Since(start)
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				r.failed++
				return
			}
			*into = append(*into, took)
		}()
	}
}

func (nb *neighbour) get(ctx context.Context) error {
	_, err := nb.cs.CoreV1().ConfigMaps(neighbourNS).Get(ctx, neighbourRead, metav1.GetOptions{})
	return err
}

func (nb *neighbour) write(ctx context.Context) error {
	patch := fmt.Appendf(nil, `{"data":{"seq":"%d"}}`, nb.seq.Add(1))
	_, err := nb.cs.CoreV1().ConfigMaps(neighbourNS).Patch(ctx, neighbourWrite, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// window measures the neighbour alone for d (nothing else is timed).
func (nb *neighbour) window(ctx context.Context, d time.Duration) (neighbourResult, error) {
	r := nb.start(ctx)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		r.stop()
		return neighbourResult{}, ctx.Err()
	case <-t.C:
	}
	return r.stop(), nil
}

// note describes the neighbour for the notes, with the classes its
// baseline window saw.
func (nb *neighbour) note(base neighbourResult) string {
	return fmt.Sprintf("neighbour: %s, classified by APF as %s; %d GETs/s of one ConfigMap and %d merge patches/s of another in namespace %s, each timed, "+
		"on a connection of its own without a client-side rate limit; runs %s before the engine starts (without rgd) and during each floor and create phase",
		nb.who, base.Classes, nb.opts.gets, nb.opts.writes, neighbourNS, nb.opts.baseline)
}

// neighbourRows are the rows of one window: GETs and writes, each with its
// p99 against the window without rgd (base), and the failures if any. n is
// 0 for the window without rgd itself.
func neighbourRows(n int, phase string, got, base neighbourResult) []Row {
	value := func(s, b summary) string {
		if n == 0 || s.Count == 0 {
			return s.String()
		}
		return fmt.Sprintf("%s; p99 %s the p99 without rgd", s, ratio(s.P99, b.P99))
	}
	rows := []Row{
		{Scenario: "neighbour", N: n, Measure: "GET of a ConfigMap " + phase, Value: value(got.Gets, base.Gets), Result: Info},
		{Scenario: "neighbour", N: n, Measure: "patch of a ConfigMap " + phase, Value: value(got.Writes, base.Writes), Result: Info},
	}
	if got.Failed+got.Skipped+got.Throttled > 0 {
		rows = append(rows, Row{Scenario: "neighbour", N: n, Measure: "requests failed / not sent (100 under way) / answered 429 " + phase,
			Value: fmt.Sprintf("%d / %d / %d", got.Failed, got.Skipped, got.Throttled), Result: Info})
	}
	return rows
}
