package faultproxy

import (
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rule picks requests for a deterministic fault, for tests that want one
// particular request to fail: every request that matches is answered 500
// (an InternalError Status) without being forwarded, until the rule has
// been applied Times times.
type Rule struct {
	// Method is the HTTP method to match ("GET", "PATCH", ...); "" matches
	// every method.
	Method string
	// PathPrefix is what the request's path must start with, e.g.
	// "/api/v1/namespaces/ns/configmaps/app-config"; "" matches every path.
	PathPrefix string
	// Times is how many requests get the fault; 0 or less means every
	// matching request until Stop.
	Times int
}

// Injection is a Rule in force.
type Injection struct {
	p    *Proxy
	id   int
	rule Rule
	// hits and stopped are guarded by p.mu.
	hits    int
	stopped bool
}

// Inject puts a rule in force and returns it, to count its hits or stop
// it. Rules apply before the seeded faults, in the order they were
// injected, whether SetEnabled turned the seeded faults off or not; a
// request a rule fails draws its seeded decision all the same, so that
// rules do not shift the seeded sequence.
func (p *Proxy) Inject(r Rule) *Injection {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := &Injection{p: p, id: len(p.rules) + 1, rule: r}
	p.rules = append(p.rules, in)
	return in
}

// Hits is the number of requests the rule has failed so far.
func (in *Injection) Hits() int {
	in.p.mu.Lock()
	defer in.p.mu.Unlock()
	return in.hits
}

// Stop takes the rule out of force.
func (in *Injection) Stop() {
	in.p.mu.Lock()
	defer in.p.mu.Unlock()
	in.stopped = true
}

// matchRule returns the first rule in force that matches r and counts the
// hit, or nil.
func (p *Proxy) matchRule(r *http.Request) *Injection {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, in := range p.rules {
		if in.stopped || (in.rule.Times > 0 && in.hits >= in.rule.Times) {
			continue
		}
		if in.rule.Method != "" && !strings.EqualFold(in.rule.Method, r.Method) {
			continue
		}
		if !strings.HasPrefix(r.URL.Path, in.rule.PathPrefix) {
			continue
		}
		in.hits++
		return in
	}
	return nil
}

// ruleStatus is the 500 of a rule's hit.
func (p *Proxy) ruleStatus(in *Injection, d decision) *metav1.Status {
	return failure(http.StatusInternalServerError, metav1.StatusReasonInternalError,
		fmt.Sprintf("injected fault: internal error (rule %d, request %d)", in.id, d.seq))
}
