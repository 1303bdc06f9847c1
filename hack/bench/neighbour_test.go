package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestNeighbourRows(t *testing.T) {
	base := neighbourResult{Gets: summarize(ms(2, 3, 4, 5)), Writes: summarize(ms(4, 5, 6, 8))}
	rows := neighbourRows(0, "without rgd (before the engine starts)", base, base)
	assert.Equal(t, []Row{
		{Scenario: "neighbour", Measure: "GET of a ConfigMap without rgd (before the engine starts)", Value: "p50 3.0 ms, p99 5.0 ms (4)", Result: Info},
		{Scenario: "neighbour", Measure: "patch of a ConfigMap without rgd (before the engine starts)", Value: "p50 5.0 ms, p99 8.0 ms (4)", Result: Info},
	}, rows)

	busy := neighbourResult{Gets: summarize(ms(10, 20)), Writes: summarize(nil), Failed: 1, Throttled: 2}
	rows = neighbourRows(500, "during the create phase", busy, base)
	assert.Equal(t, []Row{
		{Scenario: "neighbour", N: 500, Measure: "GET of a ConfigMap during the create phase", Value: "p50 10.0 ms, p99 20.0 ms (2); p99 4.0x the p99 without rgd", Result: Info},
		{Scenario: "neighbour", N: 500, Measure: "patch of a ConfigMap during the create phase", Value: "no samples", Result: Info},
		{Scenario: "neighbour", N: 500, Measure: "requests failed / not sent (100 under way) / answered 429 during the create phase", Value: "1 / 0 / 2", Result: Info},
	}, rows)
}

func TestNeighbourNilRun(t *testing.T) {
	var nb *neighbour
	r := nb.start(t.Context())
	assert.Nil(t, r, "no neighbour starts nothing")
	assert.Equal(t, neighbourResult{}, r.stop())
}

func TestNeighbourNote(t *testing.T) {
	nb := &neighbour{who: "system:serviceaccount:bench-neighbour:neighbour", opts: neighbourOptions{gets: 20, writes: 5, baseline: 15 * time.Second}}
	note := nb.note(neighbourResult{Classes: "flow schema service-accounts, priority level workload-low"})
	assert.Contains(t, note, "neighbour: system:serviceaccount:bench-neighbour:neighbour, classified by APF as flow schema service-accounts, priority level workload-low; 20 GETs/s")
	assert.Contains(t, note, "5 merge patches/s")
	assert.Contains(t, note, "runs 15s before the engine starts")
}
