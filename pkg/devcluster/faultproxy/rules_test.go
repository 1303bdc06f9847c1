package faultproxy

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRuleFailsMatchingRequestsTimes(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 1})
	p.SetEnabled(false) // rules apply all the same
	in := p.Inject(Rule{Method: http.MethodPatch, PathPrefix: "/api/v1/namespaces/ns/configmaps/app", Times: 2})

	code, _, _ := do(t, p, http.MethodGet, "/api/v1/namespaces/ns/configmaps/app", "")
	assert.Equal(t, http.StatusOK, code, "another method")
	code, _, _ = do(t, p, http.MethodPatch, "/api/v1/namespaces/ns/secrets/app", "{}")
	assert.Equal(t, http.StatusCreated, code, "another path")
	for i := range 2 {
		code, hdr, body := do(t, p, http.MethodPatch, "/api/v1/namespaces/ns/configmaps/app-config", "{}")
		require.Equal(t, http.StatusInternalServerError, code, "hit %d", i+1)
		assert.Equal(t, "application/json", hdr.Get("Content-Type"))
		st := decodeStatus(t, body)
		assert.Equal(t, metav1.StatusReasonInternalError, st.Reason)
		assert.Contains(t, st.Message, "injected fault: internal error (rule 1, request")
	}
	code, _, _ = do(t, p, http.MethodPatch, "/api/v1/namespaces/ns/configmaps/app-config", "{}")
	assert.Equal(t, http.StatusCreated, code, "the rule is used up")
	assert.Equal(t, 2, in.Hits())
	assert.Len(t, u.requests(), 3, "the failed requests were not forwarded")
	assert.Equal(t, Counts{Requests: 5, Errors: 2}, p.Counts())
}

func TestRuleWithoutLimitUntilStop(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Seed: 1})
	first := p.Inject(Rule{PathPrefix: "/version"})
	second := p.Inject(Rule{PathPrefix: "/", Times: 1})
	for range 3 {
		code, _, _ := do(t, p, http.MethodGet, "/version", "")
		assert.Equal(t, http.StatusInternalServerError, code)
	}
	assert.Equal(t, 3, first.Hits())
	assert.Zero(t, second.Hits(), "the first rule that matches applies")
	first.Stop()
	code, _, _ := do(t, p, http.MethodGet, "/version", "")
	assert.Equal(t, http.StatusInternalServerError, code, "the second rule now")
	code, _, _ = do(t, p, http.MethodGet, "/version", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, 1, second.Hits())
}

func TestRulesDoNotShiftTheSeededSequence(t *testing.T) {
	u := newUpstream(t)
	opts := Options{Seed: 9, ErrorRate: 0.3, ThrottleRate: 0.3}
	plain := codes(t, startProxy(t, u, opts), 60)
	p := startProxy(t, u, opts)
	p.Inject(Rule{Method: http.MethodPost, Times: 5})
	ruled := codes(t, p, 60)
	changed := 0
	for i := range plain {
		if plain[i] != ruled[i] {
			changed++
			assert.Equal(t, http.StatusInternalServerError, ruled[i], "request %d: only a rule's 500 differs", i)
		}
	}
	assert.LessOrEqual(t, changed, 5)
}
