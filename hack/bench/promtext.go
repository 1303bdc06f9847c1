package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a Prometheus text endpoint, by metric family name.
type Metrics map[string]*dto.MetricFamily

// ParseMetrics parses the Prometheus text exposition format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics text: %w", err)
	}
	return Metrics(fams), nil
}

// CounterByLabel sums the counter (or untyped) family name by the value of
// label, keeping only the samples whose label value keep accepts (nil keeps
// every sample). A missing family gives an empty map.
func (m Metrics) CounterByLabel(name, label string, keep func(string) bool) map[string]float64 {
	out := map[string]float64{}
	fam, ok := m[name]
	if !ok {
		return out
	}
	for _, s := range fam.GetMetric() {
		v := ""
		for _, lp := range s.GetLabel() {
			if lp.GetName() == label {
				v = lp.GetValue()
			}
		}
		if keep != nil && !keep(v) {
			continue
		}
		switch {
		case s.Counter != nil:
			out[v] += s.Counter.GetValue()
		case s.Untyped != nil:
			out[v] += s.Untyped.GetValue()
		case s.Gauge != nil:
			out[v] += s.Gauge.GetValue()
		}
	}
	return out
}

// CounterByLabels is CounterByLabel keyed by the values of several labels,
// joined by a space ("POST configmaps").
func (m Metrics) CounterByLabels(name string, labels ...string) map[string]float64 {
	out := map[string]float64{}
	fam, ok := m[name]
	if !ok {
		return out
	}
	for _, s := range fam.GetMetric() {
		vals := make([]string, len(labels))
		for _, lp := range s.GetLabel() {
			if i := slices.Index(labels, lp.GetName()); i >= 0 {
				vals[i] = lp.GetValue()
			}
		}
		k := strings.Join(vals, " ")
		switch {
		case s.Counter != nil:
			out[k] += s.Counter.GetValue()
		case s.Untyped != nil:
			out[k] += s.Untyped.GetValue()
		}
	}
	return out
}

// clientMutatingVerbs are the HTTP methods that change state, as client-go's
// request metrics name them (rgd_api_requests_total{verb}).
var clientMutatingVerbs = []string{"POST", "PUT", "PATCH", "DELETE"}

// serverMutatingVerbs are the verbs of apiserver_request_total that change
// state (the API server reports server-side apply as APPLY).
var serverMutatingVerbs = []string{"POST", "CREATE", "PUT", "UPDATE", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}

// oneOf returns a filter accepting exactly the given values.
func oneOf(values ...string) func(string) bool {
	return func(v string) bool { return slices.Contains(values, v) }
}

// Counts are counter values by label value (a verb, usually).
type Counts map[string]float64

// Sub returns c - base, label by label, dropping zero differences.
func (c Counts) Sub(base Counts) Counts {
	out := Counts{}
	for k, v := range c {
		if d := v - base[k]; d != 0 {
			out[k] = d
		}
	}
	for k, v := range base {
		if _, ok := c[k]; !ok && v != 0 {
			out[k] = -v
		}
	}
	return out
}

// Total is the sum of every value.
func (c Counts) Total() float64 {
	var t float64
	for _, v := range c {
		t += v
	}
	return t
}

// String renders "PATCH 3, PUT 6" in label order, or "none".
func (c Counts) String() string {
	if len(c) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(c))
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s %g", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

// HistogramByLabel sums the sample sums and sample counts of the histogram
// family name by the value of label. A missing family gives empty maps.
func (m Metrics) HistogramByLabel(name, label string) (sum, count map[string]float64) {
	sum, count = map[string]float64{}, map[string]float64{}
	fam, ok := m[name]
	if !ok {
		return sum, count
	}
	for _, s := range fam.GetMetric() {
		h := s.GetHistogram()
		if h == nil {
			continue
		}
		v := ""
		for _, lp := range s.GetLabel() {
			if lp.GetName() == label {
				v = lp.GetValue()
			}
		}
		sum[v] += h.GetSampleSum()
		count[v] += float64(h.GetSampleCount())
	}
	return sum, count
}
