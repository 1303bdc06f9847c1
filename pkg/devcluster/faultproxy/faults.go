package faultproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fault is what the proxy does to one request besides forwarding it.
type fault int

const (
	faultNone          fault = iota // forward and answer as the upstream did
	faultInternalError              // answer 500, do not forward
	faultThrottle                   // answer 429 with Retry-After, do not forward
	faultLostAnswer                 // forward a write, answer 500 instead of the upstream's answer
)

// String names a fault for logs.
func (f fault) String() string {
	switch f {
	case faultInternalError:
		return "internal error"
	case faultThrottle:
		return "throttle"
	case faultLostAnswer:
		return "lost answer"
	}
	return "none"
}

// decision is what the proxy does to one request.
type decision struct {
	// seq numbers the requests in the order they arrived, from 1.
	seq   int64
	fault fault
	// cutAfter is how long a watch streams before the proxy ends it; 0
	// means never (not a watch, cuts disabled, or injection off).
	cutAfter time.Duration
}

// decide draws the decision about the next request. Every request draws
// the same number of values from the source while injection is on, so that
// the sequence of decisions depends only on the order and the kind (write,
// watch) of the requests.
func (p *Proxy) decide(write, watch bool) decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	d := decision{seq: p.seq}
	if !p.enabled {
		return d
	}
	draw := p.rnd.Float64()
	cut := p.rnd.Float64()
	o := p.opts
	switch {
	case draw < o.ErrorRate:
		d.fault = faultInternalError
	case draw < o.ErrorRate+o.ThrottleRate:
		d.fault = faultThrottle
	case write && draw < o.ErrorRate+o.ThrottleRate+o.LostAnswerRate:
		d.fault = faultLostAnswer
	}
	if watch && o.WatchCutMax > 0 {
		span := o.WatchCutMax - o.WatchCutMin
		d.cutAfter = o.WatchCutMin + time.Duration(cut*float64(span))
		if d.cutAfter <= 0 {
			d.cutAfter = time.Nanosecond
		}
	}
	return d
}

// isWrite reports whether a method changes objects.
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// isWatch reports whether a request is a watch: the query says watch=true
// (or another true value), or the path is a legacy /watch/ path
// (/api/v1/watch/..., /apis/GROUP/VERSION/watch/...).
func isWatch(r *http.Request) bool {
	if v := r.URL.Query().Get("watch"); v != "" {
		if on, err := strconv.ParseBool(v); err == nil && on {
			return true
		}
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) > 2 && segs[0] == "api":
		return segs[2] == "watch"
	case len(segs) > 3 && segs[0] == "apis":
		return segs[3] == "watch"
	}
	return false
}

// writeStatus answers with a metav1.Status as the API server would.
func writeStatus(w http.ResponseWriter, st *metav1.Status) {
	body, err := json.Marshal(st)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(body)
}

// failure is a Failure Status with a code, a reason and a message.
func failure(code int32, reason metav1.StatusReason, message string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  message,
		Reason:   reason,
		Code:     code,
	}
}

// internalErrorStatus is the injected 500.
func (p *Proxy) internalErrorStatus(d decision) *metav1.Status {
	return failure(http.StatusInternalServerError, metav1.StatusReasonInternalError,
		fmt.Sprintf("injected fault: internal error (seed %d, request %d)", p.opts.Seed, d.seq))
}

// throttleStatus is the injected 429; the caller sets Retry-After too.
func (p *Proxy) throttleStatus(d decision) *metav1.Status {
	st := failure(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests,
		fmt.Sprintf("injected fault: too many requests, retry in 1s (seed %d, request %d)", p.opts.Seed, d.seq))
	st.Details = &metav1.StatusDetails{RetryAfterSeconds: 1}
	return st
}

// lostAnswerStatus is the 500 that replaces the answer of a write that was
// applied.
func (p *Proxy) lostAnswerStatus(d decision, upstreamCode int) *metav1.Status {
	return failure(http.StatusInternalServerError, metav1.StatusReasonInternalError,
		fmt.Sprintf("injected fault: the answer of this write was lost (seed %d, request %d, the API server answered %d)",
			p.opts.Seed, d.seq, upstreamCode))
}

// Counts are the proxy's counters since it started.
type Counts struct {
	// Requests is every request the proxy received.
	Requests int64
	// Errors is the injected 500s (lost answers not included).
	Errors int64
	// Throttles is the injected 429s.
	Throttles int64
	// LostAnswers is the writes forwarded whose answers were replaced by a 500.
	LostAnswers int64
	// WatchCuts is the watches the proxy ended.
	WatchCuts int64
}

// String is a one-line summary, e.g. "requests 5120, 500s 251, 429s 160,
// lost answers 38, watch cuts 12".
func (c Counts) String() string {
	return fmt.Sprintf("requests %d, 500s %d, 429s %d, lost answers %d, watch cuts %d",
		c.Requests, c.Errors, c.Throttles, c.LostAnswers, c.WatchCuts)
}
