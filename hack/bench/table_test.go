package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestReportMarkdownGolden(t *testing.T) {
	r := Report{
		Title: "rgd benchmark",
		Notes: []string{"machine: 2 cores", "kwok: on"},
		Rows: []Row{
			{Scenario: "create", N: 500, Measure: "first create -> all ACTIVE", Value: Seconds(3210 * time.Millisecond), Target: "≤ 10 s", Result: AtMost(3.21, 10)},
			{Scenario: "create/floor", N: 500, Measure: "ratio", Value: "3.40x", Target: "≤ 3x", Result: AtMost(3.4, 3)},
			{Scenario: "idle", Measure: "API server | by verb", Value: "PUT 6", Result: Info},
			{Scenario: "compile", Measure: "20 Pods", Value: "1.10 ms"},
		},
	}
	got := r.Markdown()
	golden := filepath.Join("testdata", "report.golden.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func TestVerdicts(t *testing.T) {
	assert.Equal(t, Pass, AtMost(10, 10))
	assert.Equal(t, Miss, AtMost(10.01, 10))
	assert.Equal(t, Pass, Under(149, 150))
	assert.Equal(t, Miss, Under(150, 150))
}

func TestParseGoBench(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "gobench.txt"))
	require.NoError(t, err)
	defer f.Close()
	got, err := ParseGoBench(f)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, GoBenchmark{Name: "BenchmarkCompileCartsStack", Iterations: 6124, NsPerOp: 190312, BytesPerOp: 151234, AllocsPerOp: 1620}, got[0])
	assert.Equal(t, "BenchmarkCompileTwentyPods", got[1].Name)
	assert.Equal(t, GoBenchmark{Name: "BenchmarkCompilePodAndConfigMap", Iterations: 20000, NsPerOp: 60123.5}, got[2])
}

func TestParseGoBenchBadLine(t *testing.T) {
	_, err := ParseGoBench(strings.NewReader("BenchmarkX-2 many 12 ns/op\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1: BenchmarkX-2: iterations")
}
