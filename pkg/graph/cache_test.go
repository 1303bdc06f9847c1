package graph

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rgd-dev/rgd/pkg/manifest"
)

// outcome is what a compilation produced, as compared in golden files.
func outcome(t *testing.T, path string, cache *Cache) string {
	t.Helper()
	g, err := Compile(context.Background(), loadRGD(t, path), Options{Resolver: testResolver(t), Cache: cache})
	if err != nil {
		return "error: " + err.Error()
	}
	return describe(t, g)
}

func testdataRGDs(t *testing.T) []string {
	t.Helper()
	valid, err := filepath.Glob("testdata/valid/*.yaml")
	require.NoError(t, err)
	invalid, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	warned, err := filepath.Glob("testdata/warned/*.yaml")
	require.NoError(t, err)
	return append(append(valid, invalid...), warned...)
}

// TestCacheGivesFreshResults compiles every test RGD through one Cache, in
// one order and then in the reverse order, and compares each result with a
// compilation that shares nothing: RGDs that share expressions, kinds and
// environments must get exactly what a fresh compilation gives, errors
// included.
func TestCacheGivesFreshResults(t *testing.T) {
	files := testdataRGDs(t)
	fresh := map[string]string{}
	for _, f := range files {
		fresh[f] = outcome(t, f, NewCache(0, 0))
	}
	shared := NewCache(0, 0)
	for _, f := range files {
		assert.Equal(t, fresh[f], outcome(t, f, shared), "first pass: %s", f)
	}
	reversed := slices.Clone(files)
	slices.Reverse(reversed)
	for _, f := range reversed {
		assert.Equal(t, fresh[f], outcome(t, f, shared), "second pass: %s", f)
	}
	exprs, envs := shared.Len()
	assert.Positive(t, exprs)
	assert.Positive(t, envs)
}

// TestCacheConcurrent compiles every test RGD from several goroutines at
// once through one small Cache (run with -race).
func TestCacheConcurrent(t *testing.T) {
	files := testdataRGDs(t)
	want := map[string]string{}
	for _, f := range files {
		want[f] = outcome(t, f, NewCache(0, 0))
	}
	cache := NewCache(16, 4)
	var wg sync.WaitGroup
	results := make([]map[string]string, 4)
	for i := range results {
		results[i] = map[string]string{}
		wg.Add(1)
		go func(got map[string]string, offset int) {
			defer wg.Done()
			for j := range files {
				f := files[(j+offset)%len(files)]
				g, err := Compile(context.Background(), loadRGD(t, f), Options{Resolver: testResolver(t), Cache: cache})
				if err != nil {
					got[f] = "error: " + err.Error()
				} else if got[f], err = describeGraph(g); err != nil {
					got[f] = "describe: " + err.Error()
				} else if err := planAll(g); err != nil {
					got[f] = "plan: " + err.Error()
				}
			}
		}(results[i], i*7)
	}
	wg.Wait()
	for _, got := range results {
		for _, f := range files {
			assert.Equal(t, want[f], got[f], f)
		}
	}
	exprs, envs := cache.Len()
	assert.LessOrEqual(t, exprs, 16)
	assert.LessOrEqual(t, envs, 4)
}

// planAll plans the program of every expression of a graph: graphs that
// share checked expressions plan them concurrently.
func planAll(g *Graph) error {
	var all []*Expression
	for _, r := range g.Resources {
		for _, f := range r.Fields {
			all = append(all, f.Expressions()...)
		}
		all = append(all, r.ReadyWhen...)
		all = append(all, r.IncludeWhen...)
		for _, d := range r.ForEach {
			all = append(all, d.Expression)
		}
	}
	for _, f := range g.Instance.Status {
		all = append(all, f.Expressions()...)
	}
	all = append(all, g.Instance.Conditions...)
	for _, e := range all {
		if _, err := e.Program(); err != nil {
			return err
		}
	}
	return nil
}

// TestCacheDistinguishesDeclarations compiles two RGDs whose expressions are
// the same text but whose declarations differ: the second must not reuse
// the first one's checked expressions.
func TestCacheDistinguishesDeclarations(t *testing.T) {
	rgd := func(fieldType string) string {
		return `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: demo
spec:
  schema:
    apiVersion: v1alpha1
    kind: Demo
    spec:
      name: string
      count: ` + fieldType + `
    status:
      count: ${schema.spec.count}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
      data:
        count: ${schema.spec.count}
`
	}
	compile := func(cache *Cache, src string) (*Graph, error) {
		docs, err := manifest.Read(strings.NewReader(src), "demo.yaml")
		require.NoError(t, err)
		r, err := docs[0].RGD()
		require.NoError(t, err)
		return Compile(context.Background(), r, Options{Resolver: testResolver(t), Cache: cache})
	}
	cache := NewCache(0, 0)
	g, err := compile(cache, rgd("string"))
	require.NoError(t, err)
	assert.Equal(t, "string", g.Instance.Status[0].Parts[0].Expression.Output.String())

	_, err = compile(cache, rgd("integer"))
	require.Error(t, err, "an integer cannot fill ConfigMap data")
	_, fresh := compile(NewCache(0, 0), rgd("integer"))
	assert.Equal(t, fresh.Error(), err.Error())

	g, err = compile(cache, rgd("string"))
	require.NoError(t, err)
	assert.Equal(t, "string", g.Instance.Status[0].Parts[0].Expression.Output.String())
}
