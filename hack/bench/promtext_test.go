package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const engineScrape = `# HELP rgd_api_requests_total API requests made by rgd's clients, by verb and HTTP status code.
# TYPE rgd_api_requests_total counter
rgd_api_requests_total{code="200",verb="GET"} 12
rgd_api_requests_total{code="200",verb="PATCH"} 40
rgd_api_requests_total{code="201",verb="POST"} 400
rgd_api_requests_total{code="409",verb="POST"} 2
rgd_api_requests_total{code="200",verb="PUT"} 100
# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 87
`

func TestParseMetricsEngineCounters(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(engineScrape))
	require.NoError(t, err)
	got := Counts(m.CounterByLabel("rgd_api_requests_total", "verb", oneOf(clientMutatingVerbs...)))
	assert.Equal(t, Counts{"PATCH": 40, "POST": 402, "PUT": 100}, got)
	assert.Equal(t, 542.0, got.Total())
	assert.Equal(t, "PATCH 40, POST 402, PUT 100", got.String())

	all := m.CounterByLabel("rgd_api_requests_total", "verb", nil)
	assert.Equal(t, 12.0, all["GET"])
	assert.Empty(t, m.CounterByLabel("missing_total", "verb", nil), "a missing family is empty, not an error")
}

func TestParseMetricsAPIServer(t *testing.T) {
	const scrape = `# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 31
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="POST",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 9
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="WATCH",version="v1"} 3
`
	m, err := ParseMetrics(strings.NewReader(scrape))
	require.NoError(t, err)
	got := Counts(m.CounterByLabel("apiserver_request_total", "verb", oneOf(serverMutatingVerbs...)))
	assert.Equal(t, Counts{"PUT": 31, "POST": 5, "APPLY": 7}, got)

	byResource := Counts(m.CounterByLabels("apiserver_request_total", "verb", "resource", "subresource"))
	assert.Equal(t, 7.0, byResource["APPLY deployments "])
	assert.Equal(t, 9.0, byResource["LIST pods "])
	assert.Len(t, byResource, 5)
}

func TestParseMetricsBadInput(t *testing.T) {
	_, err := ParseMetrics(strings.NewReader("rgd_api_requests_total{verb=\"GET\" 12\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "parsing metrics text")
}

func TestCountsSub(t *testing.T) {
	after := Counts{"PUT": 40, "POST": 3, "PATCH": 1}
	before := Counts{"PUT": 34, "POST": 3, "DELETE": 1}
	assert.Equal(t, Counts{"PUT": 6, "PATCH": 1, "DELETE": -1}, after.Sub(before))
	assert.Equal(t, "none", Counts{}.String())
}
