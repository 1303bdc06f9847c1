package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apiversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
)

// serveHTTP listens on addr and serves h until ctx ends; it returns the
// bound address (addr may use port 0). addr "0" or "" disables it.
func serveHTTP(ctx context.Context, wg *sync.WaitGroup, log logr.Logger, what, addr string, h http.Handler) (string, error) {
	if addr == "0" || addr == "" {
		log.Info("disabled", "server", what)
		return "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s: listening on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "server stopped", "server", what)
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	log.Info("serving", "server", what, "address", ln.Addr().String())
	return ln.Addr().String(), nil
}

// pprofHandler serves Go's runtime profiles under /debug/pprof/.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// probeHandler serves /healthz (200 while the process runs) and /readyz
// (200 while ready says so, else 503).
func probeHandler(ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "engine not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// serverVersion asks the API server for its version. Unlike discovery's
// ServerVersion, a failure keeps the server's own words: the answer's Status
// is decoded before its body is read.
func serverVersion(ctx context.Context, cs kubernetes.Interface) (*apiversion.Info, error) {
	answer := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx)
	if err := answer.Error(); err != nil {
		return nil, err
	}
	raw, err := answer.Raw()
	if err != nil {
		return nil, err
	}
	info := &apiversion.Info{}
	if err := json.Unmarshal(raw, info); err != nil {
		return nil, fmt.Errorf("reading the API server's version: %w", err)
	}
	return info, nil
}
