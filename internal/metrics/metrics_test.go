package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestObserveReconcile(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.ObserveReconcile("instance", 3*time.Millisecond, "success")
	m.ObserveReconcile("instance", time.Millisecond, "error")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Reconciles.WithLabelValues("instance", "success")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Reconciles.WithLabelValues("instance", "error")))
	n, err := testutil.GatherAndCount(reg, "rgd_reconcile_duration_seconds")
	assert.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestCountRequestsCountsOneEnginesRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer srv.Close()
	mine, other := New(prometheus.NewRegistry()), New(prometheus.NewRegistry())
	client := &http.Client{Transport: mine.CountRequests(http.DefaultTransport)}
	for _, method := range []string{http.MethodGet, http.MethodGet, http.MethodPost} {
		req, err := http.NewRequest(method, srv.URL, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:1", nil)
	require.NoError(t, err)
	_, err = client.Do(req)
	require.Error(t, err)

	assert.Equal(t, 2.0, testutil.ToFloat64(mine.APIRequests.WithLabelValues("GET", "200")))
	assert.Equal(t, 1.0, testutil.ToFloat64(mine.APIRequests.WithLabelValues("POST", "201")))
	assert.Equal(t, 1.0, testutil.ToFloat64(mine.APIRequests.WithLabelValues("GET", "<error>")))
	assert.Zero(t, testutil.CollectAndCount(other.APIRequests), "another engine's counter saw nothing")
}
