package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure a Proxy.
type Options struct {
	// Upstream is the API server the proxy forwards to, with its
	// credentials and TLS settings (an insecure TLS config is fine).
	Upstream *rest.Config
	// Seed seeds the source every fault is drawn from.
	Seed int64
	// ErrorRate is the share of requests answered 500 without being
	// forwarded, e.g. 0.05.
	ErrorRate float64
	// ThrottleRate is the share of requests answered 429 with
	// Retry-After: 1 without being forwarded, e.g. 0.03.
	ThrottleRate float64
	// LostAnswerRate is the share of writes (POST, PUT, PATCH, DELETE) that
	// are forwarded but whose answers are discarded and replaced by a 500,
	// e.g. 0.02.
	LostAnswerRate float64
	// WatchCutMin and WatchCutMax bound how long a watch streams before the
	// proxy ends it: a duration drawn in [WatchCutMin, WatchCutMax] for
	// every watch. A WatchCutMax of 0 disables the cuts.
	WatchCutMin, WatchCutMax time.Duration
	// Logf, when set, receives a line for every injected fault and cut.
	Logf func(format string, args ...any)
}

// validate reports options that cannot work.
func (o Options) validate() error {
	if o.Upstream == nil {
		return errors.New("faultproxy: Options.Upstream is nil")
	}
	for name, r := range map[string]float64{"ErrorRate": o.ErrorRate, "ThrottleRate": o.ThrottleRate, "LostAnswerRate": o.LostAnswerRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("faultproxy: %s must be in [0, 1], got %v", name, r)
		}
	}
	if sum := o.ErrorRate + o.ThrottleRate + o.LostAnswerRate; sum > 1 {
		return fmt.Errorf("faultproxy: the rates add up to %v, more than 1", sum)
	}
	if o.WatchCutMin < 0 || o.WatchCutMax < 0 || (o.WatchCutMax > 0 && o.WatchCutMin > o.WatchCutMax) {
		return fmt.Errorf("faultproxy: watch cuts need 0 <= WatchCutMin <= WatchCutMax, got %s and %s", o.WatchCutMin, o.WatchCutMax)
	}
	return nil
}

// Proxy is a running fault-injecting reverse proxy. Its methods are safe
// for concurrent use.
type Proxy struct {
	opts     Options
	upstream *url.URL
	ln       net.Listener
	srv      *http.Server
	rp       *httputil.ReverseProxy
	stop     context.CancelFunc
	served   chan error

	mu      sync.Mutex // guards rnd, seq, enabled and rules
	rnd     *rand.Rand
	seq     int64
	enabled bool
	rules   []*Injection

	nRequests, nErrors, nThrottles, nLost, nCuts atomic.Int64
}

// Start listens on a free loopback port (plain HTTP) and serves until
// Close. Injection is on from the start.
func Start(opts Options) (*Proxy, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	upstream, _, err := rest.DefaultServerUrlFor(opts.Upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream: %w", err)
	}
	transport, err := rest.TransportFor(opts.Upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream transport: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listening: %w", err)
	}
	base, stop := context.WithCancel(context.Background())
	p := &Proxy{
		opts:     opts,
		upstream: upstream,
		ln:       ln,
		stop:     stop,
		served:   make(chan error, 1),
		rnd:      rand.New(rand.NewSource(opts.Seed)),
		enabled:  true,
	}
	errLog := log.New(logWriter{p}, "faultproxy: ", 0)
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      transport,
		FlushInterval:  -1, // stream watches as they come
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.forwardError,
		ErrorLog:       errLog,
	}
	// No read or write timeout: watches and other long-running requests
	// last as long as the client and the upstream want (or until a cut).
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          errLog,
	}
	go func() { p.served <- p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's address, http://127.0.0.1:PORT.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// RESTConfig is a client configuration for the proxy: its URL and no
// credentials (the proxy adds the upstream's).
func (p *Proxy) RESTConfig() *rest.Config { return &rest.Config{Host: p.URL()} }

// WriteKubeconfig writes a kubeconfig for the proxy to path: its URL and
// no credentials.
func (p *Proxy) WriteKubeconfig(path string) error {
	const name = "faultproxy"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: p.URL()}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: metav1.NamespaceDefault}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("faultproxy: writing the kubeconfig: %w", err)
	}
	return nil
}

// SetEnabled turns the seeded faults (errors, throttles, lost answers and
// watch cuts) on or off; requests are forwarded either way. Watches that
// were to be cut are not cut while injection is off. Rules (Inject) are
// not affected.
func (p *Proxy) SetEnabled(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled = on
}

// isEnabled reports whether injection is on.
func (p *Proxy) isEnabled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enabled
}

// Counts returns a snapshot of the counters.
func (p *Proxy) Counts() Counts {
	return Counts{
		Requests:    p.nRequests.Load(),
		Errors:      p.nErrors.Load(),
		Throttles:   p.nThrottles.Load(),
		LostAnswers: p.nLost.Load(),
		WatchCuts:   p.nCuts.Load(),
	}
}

// Close stops listening and ends every request in flight, watches included.
func (p *Proxy) Close() error {
	p.stop()
	err := p.srv.Close()
	if serveErr := <-p.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}

// logf calls Options.Logf when set.
func (p *Proxy) logf(format string, args ...any) {
	if p.opts.Logf != nil {
		p.opts.Logf(format, args...)
	}
}

// logWriter sends the http package's error log to Options.Logf.
type logWriter struct{ p *Proxy }

func (w logWriter) Write(b []byte) (int, error) {
	w.p.logf("%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// exchangeKey keys the exchange in a forwarded request's context.
type exchangeKey struct{}

// exchange is the state of one forwarded request.
type exchange struct {
	d      decision
	cancel context.CancelFunc // ends the upstream request
	timer  *time.Timer        // the watch cut, once the answer streams
}

// ServeHTTP decides about a request: answers it with an injected fault, or
// forwards it (and maybe loses the answer, or cuts the watch later).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.nRequests.Add(1)
	d := p.decide(isWrite(r.Method), isWatch(r))
	if in := p.matchRule(r); in != nil {
		p.nErrors.Add(1)
		p.logf("request %d %s %s: injected 500 (rule %d)", d.seq, r.Method, r.URL.RequestURI(), in.id)
		writeStatus(w, p.ruleStatus(in, d))
		return
	}
	switch d.fault {
	case faultInternalError:
		p.nErrors.Add(1)
		p.logf("request %d %s %s: injected 500", d.seq, r.Method, r.URL.RequestURI())
		writeStatus(w, p.internalErrorStatus(d))
		return
	case faultThrottle:
		p.nThrottles.Add(1)
		p.logf("request %d %s %s: injected 429", d.seq, r.Method, r.URL.RequestURI())
		w.Header().Set("Retry-After", "1")
		writeStatus(w, p.throttleStatus(d))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	ex := &exchange{d: d, cancel: cancel}
	defer func() {
		if ex.timer != nil {
			ex.timer.Stop()
		}
		cancel()
	}()
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, exchangeKey{}, ex)))
}

// forwardedHeaders are the headers the ReverseProxy drops before Rewrite;
// the proxy passes them on like any other.
var forwardedHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// rewrite points a forwarded request at the upstream. Its method, path,
// query, body and headers stay, except the hop-by-hop headers (which the
// ReverseProxy removes) and Authorization (which the upstream transport
// sets).
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.upstream)
	pr.Out.Header.Del("Authorization")
	for _, h := range forwardedHeaders {
		if v, ok := pr.In.Header[h]; ok {
			pr.Out.Header[h] = v
		}
	}
}

// lostAnswerError replaces the upstream's answer to a write by the
// injected 500, through the ReverseProxy's ErrorHandler.
type lostAnswerError struct {
	d    decision
	code int
}

func (e *lostAnswerError) Error() string {
	return fmt.Sprintf("request %d: the answer (%d) was lost on purpose", e.d.seq, e.code)
}

// modifyResponse loses the answer of a write chosen for it, and arms the
// cut of a watch once the upstream has started streaming it.
func (p *Proxy) modifyResponse(res *http.Response) error {
	ex, _ := res.Request.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return nil
	}
	if ex.d.fault == faultLostAnswer {
		_, _ = io.Copy(io.Discard, res.Body)
		return &lostAnswerError{d: ex.d, code: res.StatusCode}
	}
	if ex.d.cutAfter > 0 && res.StatusCode == http.StatusOK {
		body := &cutBody{ReadCloser: res.Body}
		res.Body = body
		path := res.Request.URL.RequestURI()
		ex.timer = time.AfterFunc(ex.d.cutAfter, func() {
			if !p.isEnabled() {
				return
			}
			body.cut.Store(true)
			p.nCuts.Add(1)
			p.logf("request %d GET %s: watch cut after %s", ex.d.seq, path, ex.d.cutAfter)
			ex.cancel()
		})
	}
	return nil
}

// forwardError answers when forwarding did not produce the upstream's
// answer: a lost answer, a client that went away, or an upstream failure.
func (p *Proxy) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	var lost *lostAnswerError
	if errors.As(err, &lost) {
		p.nLost.Add(1)
		p.logf("request %d %s %s: answer %d lost", lost.d.seq, r.Method, r.URL.RequestURI(), lost.code)
		writeStatus(w, p.lostAnswerStatus(lost.d, lost.code))
		return
	}
	if r.Context().Err() != nil {
		// The client is gone (or the proxy closes): nobody reads an answer.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	p.logf("%s %s: forwarding failed: %v", r.Method, r.URL.RequestURI(), err)
	writeStatus(w, failure(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
		fmt.Sprintf("faultproxy: forwarding to the API server failed: %v", err)))
}

// cutBody is a watch's upstream body that ends cleanly (io.EOF) once the
// proxy has cut the watch, so that the client sees the stream end rather
// than the connection break.
type cutBody struct {
	io.ReadCloser
	cut atomic.Bool
}

func (b *cutBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if err != nil && b.cut.Load() {
		return n, io.EOF
	}
	return n, err
}
