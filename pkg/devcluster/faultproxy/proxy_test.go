package faultproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const token = "upstream-secret"

// seen is one request as the fake upstream received it.
type seen struct {
	method, uri, auth, body string
	header                  http.Header
}

// upstream is a fake API server over TLS that wants a bearer token,
// records what it is asked, answers writes with the object it was sent and
// streams watches until the request ends.
type upstream struct {
	srv *httptest.Server

	mu           sync.Mutex
	reqs         []seen
	watchesEnded chan string // the URI of every watch whose request ended
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{watchesEnded: make(chan string, 100)}
	u.srv = httptest.NewTLSServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.reqs = append(u.reqs, seen{method: r.Method, uri: r.URL.RequestURI(), auth: r.Header.Get("Authorization"), body: string(body), header: r.Header.Clone()})
	u.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case isWatch(r):
		u.streamWatch(w, r)
	case isWrite(r.Method):
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	default:
		_, _ = io.WriteString(w, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}}`)
	}
}

// streamWatch writes an event every 10ms until the request ends.
func (u *upstream) streamWatch(w http.ResponseWriter, r *http.Request) {
	defer func() { u.watchesEnded <- r.URL.RequestURI() }()
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			_, _ = io.WriteString(w, `{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"1"}}}`+"\n")
			if rc.Flush() != nil {
				return
			}
		}
	}
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

func (u *upstream) config() *rest.Config {
	return &rest.Config{Host: u.srv.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}

// startProxy starts a proxy in front of u and closes it when the test ends.
func startProxy(t *testing.T, u *upstream, opts Options) *Proxy {
	t.Helper()
	opts.Upstream = u.config()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	p, err := Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

// do sends one request through the proxy and returns the status code and body.
func do(t *testing.T, p *Proxy, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// decodeStatus decodes an injected answer.
func decodeStatus(t *testing.T, body []byte) metav1.Status {
	t.Helper()
	var st metav1.Status
	require.NoError(t, json.Unmarshal(body, &st), "body: %s", body)
	return st
}

// codes sends n requests (every third a POST) and returns their status codes.
func codes(t *testing.T, p *Proxy, n int) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		method := http.MethodGet
		if i%3 == 2 {
			method = http.MethodPost
		}
		out[i], _, _ = do(t, p, method, "/api/v1/namespaces/default/configmaps", `{"kind":"ConfigMap"}`)
	}
	return out
}

func TestSameSeedSameDecisions(t *testing.T) {
	u := newUpstream(t)
	opts := Options{Seed: 7, ErrorRate: 0.2, ThrottleRate: 0.2, LostAnswerRate: 0.2}
	a := codes(t, startProxy(t, u, opts), 150)
	b := codes(t, startProxy(t, u, opts), 150)
	assert.Equal(t, a, b, "the same seed answers the same sequence of requests the same way")
	opts.Seed = 8
	c := codes(t, startProxy(t, u, opts), 150)
	assert.NotEqual(t, a, c, "another seed draws other faults")
}

func TestRatesRoughlyHold(t *testing.T) {
	u := newUpstream(t)
	quiet := func(string, ...any) {} // 2000 requests: no log line per fault
	p := startProxy(t, u, Options{Seed: 3, ErrorRate: 0.05, ThrottleRate: 0.03, LostAnswerRate: 0.02, Logf: quiet})
	const n = 2000
	got := map[int]int{}
	writes := 0
	for i, code := range codes(t, p, n) {
		got[code]++
		if i%3 == 2 {
			writes++
		}
	}
	c := p.Counts()
	t.Logf("%d writes; %s", writes, c)
	assert.Equal(t, int64(n), c.Requests)
	assert.Equal(t, int64(got[500]), c.Errors+c.LostAnswers, "every 500 the client saw is counted")
	assert.Equal(t, int64(got[429]), c.Throttles)
	assert.Equal(t, n-got[429]-int(c.Errors), len(u.requests()), "lost answers are forwarded, injected 500s and 429s are not")
	assert.InDelta(t, 0.05*n, float64(c.Errors), 40, "500s")
	assert.InDelta(t, 0.03*n, float64(c.Throttles), 30, "429s")
	assert.InDelta(t, 0.02*float64(writes), float64(c.LostAnswers), 12, "lost answers")
	assert.Positive(t, c.LostAnswers)
}

func TestLostAnswerForwardsTheWrite(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 1, LostAnswerRate: 1})
	req, err := http.NewRequest(http.MethodPost, p.URL()+"/api/v1/namespaces/default/configmaps?fieldManager=me", strings.NewReader(`{"kind":"ConfigMap"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer from-the-client")
	req.Header.Set("X-Test", "kept")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "dropped")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	st := decodeStatus(t, body)
	assert.Equal(t, metav1.StatusReasonInternalError, st.Reason)
	assert.Equal(t, "Status", st.Kind)
	assert.Contains(t, st.Message, "injected fault: the answer of this write was lost")
	assert.Contains(t, st.Message, "answered 201")

	reqs := u.requests()
	require.Len(t, reqs, 1, "the write reached the upstream")
	assert.Equal(t, http.MethodPost, reqs[0].method)
	assert.Equal(t, "/api/v1/namespaces/default/configmaps?fieldManager=me", reqs[0].uri)
	assert.Equal(t, `{"kind":"ConfigMap"}`, reqs[0].body)
	assert.Equal(t, "Bearer "+token, reqs[0].auth, "the upstream's credentials replace the client's")
	assert.Equal(t, "kept", reqs[0].header.Get("X-Test"))
	assert.Equal(t, "10.0.0.1", reqs[0].header.Get("X-Forwarded-For"))
	assert.Empty(t, reqs[0].header.Get("X-Hop"), "hop-by-hop headers stay with the proxy")
	assert.Equal(t, "application/json", reqs[0].header.Get("Content-Type"))

	code, _, _ := do(t, p, http.MethodGet, "/api/v1/namespaces/default/configmaps/x", "")
	assert.Equal(t, http.StatusOK, code, "reads never lose their answers")
	assert.Equal(t, Counts{Requests: 2, LostAnswers: 1}, p.Counts())
}

func TestInjectedErrorsAreNotForwarded(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 3, ErrorRate: 1})
	code, hdr, body := do(t, p, http.MethodDelete, "/api/v1/namespaces/default/configmaps/x", "")
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	st := decodeStatus(t, body)
	assert.Equal(t, metav1.StatusFailure, st.Status)
	assert.Equal(t, metav1.StatusReasonInternalError, st.Reason)
	assert.Equal(t, int32(500), st.Code)
	assert.Equal(t, "injected fault: internal error (seed 3, request 1)", st.Message)
	assert.Empty(t, u.requests())
}

func TestThrottleCarriesRetryAfter(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 1, ThrottleRate: 1})
	code, hdr, body := do(t, p, http.MethodGet, "/api/v1/namespaces", "")
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Equal(t, "1", hdr.Get("Retry-After"))
	st := decodeStatus(t, body)
	assert.Equal(t, metav1.StatusReasonTooManyRequests, st.Reason)
	assert.Equal(t, int32(429), st.Code)
	require.NotNil(t, st.Details)
	assert.Equal(t, int32(1), st.Details.RetryAfterSeconds)
	assert.Contains(t, st.Message, "injected fault")
	assert.Empty(t, u.requests(), "a throttled request is not forwarded")
	assert.Equal(t, Counts{Requests: 1, Throttles: 1}, p.Counts())
}

func TestWatchIsCut(t *testing.T) {
	u := newUpstream(t)
	const lo, hi = 50 * time.Millisecond, 100 * time.Millisecond
	p := startProxy(t, u, Options{Seed: 5, WatchCutMin: lo, WatchCutMax: hi})
	for i, path := range []string{
		"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1",
		"/apis/apps/v1/deployments?watch=1",
		"/api/v1/watch/namespaces/default/configmaps",
		"/apis/apps/v1/watch/deployments",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+path, nil)
		require.NoError(t, err)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		elapsed := time.Since(start)
		_ = resp.Body.Close()
		cancel()
		require.NoError(t, err, "%s: the stream ends cleanly", path)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(body), `"BOOKMARK"`, "%s: events streamed before the cut", path)
		assert.GreaterOrEqual(t, elapsed, lo, path)
		assert.Less(t, elapsed, hi+3*time.Second, path)
		assert.Equal(t, int64(i+1), p.Counts().WatchCuts)
		select {
		case uri := <-u.watchesEnded:
			assert.Equal(t, path, uri)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the upstream request did not end after the cut", path)
		}
	}
	// Not watches: a namespace and a configmap named "watch".
	for _, path := range []string{"/api/v1/namespaces/watch/configmaps", "/api/v1/namespaces/default/configmaps/watch?watch=false"} {
		code, _, _ := do(t, p, http.MethodGet, path, "")
		assert.Equal(t, http.StatusOK, code, path)
	}
	assert.Equal(t, int64(4), p.Counts().WatchCuts)
}

func TestSetEnabledStopsInjection(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 2, ErrorRate: 0.5, ThrottleRate: 0.5})
	p.SetEnabled(false)
	for i := range 50 {
		code, _, _ := do(t, p, http.MethodPost, "/api/v1/namespaces/default/configmaps", "{}")
		require.Equal(t, http.StatusCreated, code, "request %d with injection off", i)
	}
	p.SetEnabled(true)
	code, _, _ := do(t, p, http.MethodGet, "/api/v1/namespaces", "")
	assert.Contains(t, []int{500, 429}, code, "injection is back on")
	c := p.Counts()
	assert.Equal(t, int64(51), c.Requests)
	assert.Equal(t, int64(1), c.Errors+c.Throttles)
}

func TestSetEnabledStopsWatchCuts(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 2, WatchCutMin: 10 * time.Millisecond, WatchCutMax: 20 * time.Millisecond})
	p.SetEnabled(false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/api/v1/pods?watch=true", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the watch lasts until the client ends it")
	assert.Zero(t, p.Counts().WatchCuts)
}

func TestClientGoSeesInjectedErrors(t *testing.T) {
	u := newUpstream(t)
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

	p := startProxy(t, u, Options{Seed: 4, ErrorRate: 1})
	dyn, err := dynamic.NewForConfig(p.RESTConfig())
	require.NoError(t, err)
	_, err = dyn.Resource(cms).Namespace("default").Get(context.Background(), "x", metav1.GetOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsInternalError(err), "%T %v", err, err)
	assert.Contains(t, err.Error(), "injected fault")

	p = startProxy(t, u, Options{Seed: 4, LostAnswerRate: 1})
	dyn, err = dynamic.NewForConfig(p.RESTConfig())
	require.NoError(t, err)
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "y", "namespace": "default"}}}
	_, err = dyn.Resource(cms).Namespace("default").Create(context.Background(), cm, metav1.CreateOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsInternalError(err), "%T %v", err, err)
	assert.Contains(t, err.Error(), "injected fault: the answer of this write was lost")
	got, err := dyn.Resource(cms).Namespace("default").Get(context.Background(), "x", metav1.GetOptions{})
	require.NoError(t, err, "reads pass")
	assert.Equal(t, "x", got.GetName())
}

func TestWriteKubeconfig(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 1})
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, p.WriteKubeconfig(path))
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	assert.Equal(t, p.URL(), cfg.Host)
	assert.Empty(t, cfg.BearerToken)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default").
		Get(context.Background(), "x", metav1.GetOptions{})
	require.NoError(t, err)
	reqs := u.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "Bearer "+token, reqs[0].auth)
}

func TestOptionsValidation(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	for _, o := range []Options{
		{},
		{Upstream: cfg, ErrorRate: -0.1},
		{Upstream: cfg, ThrottleRate: 1.5},
		{Upstream: cfg, ErrorRate: 0.6, ThrottleRate: 0.6},
		{Upstream: cfg, WatchCutMin: 2 * time.Second, WatchCutMax: time.Second},
	} {
		_, err := Start(o)
		assert.Error(t, err, fmt.Sprintf("%+v", o))
	}
}

func TestCountsString(t *testing.T) {
	c := Counts{Requests: 5120, Errors: 251, Throttles: 160, LostAnswers: 38, WatchCuts: 12}
	assert.Equal(t, "requests 5120, 500s 251, 429s 160, lost answers 38, watch cuts 12", c.String())
}

func TestClientGoWatchEndsAtTheCut(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 6, WatchCutMin: 50 * time.Millisecond, WatchCutMax: 100 * time.Millisecond})
	dyn, err := dynamic.NewForConfig(p.RESTConfig())
	require.NoError(t, err)
	w, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default").
		Watch(context.Background(), metav1.ListOptions{AllowWatchBookmarks: true})
	require.NoError(t, err)
	defer w.Stop()
	events := 0
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				assert.Positive(t, events, "events arrived before the cut")
				assert.Equal(t, int64(1), p.Counts().WatchCuts)
				return
			}
			events++
		case <-deadline:
			t.Fatalf("the watch was not cut within 5s (%d events)", events)
		}
	}
}
