package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
)

func readAPFFile(t *testing.T, name string) apfSample {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	m, err := ParseMetrics(f)
	require.NoError(t, err)
	return readAPF(m)
}

func TestAPFSampleDelta(t *testing.T) {
	d := readAPFFile(t, "apf-after.txt").sub(readAPFFile(t, "apf-before.txt"))
	assert.Equal(t, Counts{"exempt exempt": 365, "workload-low service-accounts": 342}, d.dispatched)
	assert.Equal(t, 342.0, d.level("workload-low"))
	assert.Equal(t, 0.0, d.level("global-default"))
	assert.Equal(t, Counts{"workload-low": 2}, d.rejected)
	assert.Equal(t, "exempt (exempt) 365, workload-low (service-accounts) 342; rejected: workload-low 2; mean wait in queue: workload-low 0.3 ms", d.String())
	assert.Equal(t, "none; rejected: none; mean wait in queue: none", apfSample{}.String())
}

func TestEngineLevelRow(t *testing.T) {
	d := readAPFFile(t, "apf-after.txt").sub(readAPFFile(t, "apf-before.txt"))
	row := engineLevelRow(50, identityServiceAccount, d, 302, Counts{"workload-low": 40})
	assert.Equal(t, "302 of the engine's 302 requests (342 dispatched there, 40 of them the neighbour's)", row.Value)
	assert.Equal(t, Pass, row.Result)

	row = engineLevelRow(50, identityServiceAccount, d, 302, Counts{"global-default": 40})
	assert.Equal(t, Miss, row.Result, "342 at workload-low for 302 engine requests: 13% off")

	row = engineLevelRow(50, identityAdmin, d, 302, nil)
	assert.Equal(t, Info, row.Result)
	assert.Contains(t, row.Value, "exempt")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAPFRecorder(t *testing.T) {
	codes := []int{200, 429, 200}
	rec := &apfRecorder{next: roundTripFunc(func(*http.Request) (*http.Response, error) {
		h := http.Header{}
		h.Set(flowcontrolv1.ResponseHeaderMatchedPriorityLevelConfigurationUID, "pl-uid")
		h.Set(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID, "fs-uid")
		code := codes[0]
		codes = codes[1:]
		return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(""))}, nil
	})}
	for range 3 {
		resp, err := rec.RoundTrip(&http.Request{})
		require.NoError(t, err)
		resp.Body.Close()
	}
	classes, throttled := rec.take()
	assert.Equal(t, map[string]float64{"pl-uid fs-uid": 3}, classes)
	assert.Equal(t, 1, throttled)
	classes, throttled = rec.take()
	assert.Empty(t, classes, "take starts again from zero")
	assert.Zero(t, throttled)

	byPL, seen := byLevel(map[string]float64{"pl-uid fs-uid": 3, "other ": 1}, map[string]string{"pl-uid": "workload-low", "fs-uid": "service-accounts"})
	assert.Equal(t, Counts{"workload-low": 3, "other": 1}, byPL)
	assert.Equal(t, "flow schema (none), priority level other; flow schema service-accounts, priority level workload-low", seen)
}
