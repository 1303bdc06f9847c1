package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
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

func TestMutatingRequests(t *testing.T) {
	before := MutatingRequests()
	requestResult{}.Increment(context.Background(), "201", "POST", "h")
	requestResult{}.Increment(context.Background(), "200", "PATCH", "h")
	requestResult{}.Increment(context.Background(), "200", "GET", "h")
	assert.Equal(t, before+2, MutatingRequests())
}
