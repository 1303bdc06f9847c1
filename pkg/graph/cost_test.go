package graph

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWarnedRGDs compiles every RGD under testdata/warned. Each is accepted
// with CodeCostEstimate warnings, compared with the golden .warn file beside
// it; with Options.StrictCostEstimate the same problems are its errors.
func TestWarnedRGDs(t *testing.T) {
	files, err := filepath.Glob("testdata/warned/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	resolver := testResolver(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			g, err := Compile(context.Background(), loadRGD(t, f), Options{Resolver: resolver, Cache: NewCache(0, 0)})
			require.NoError(t, err, "a costly estimate does not reject the RGD")
			require.NotEmpty(t, g.Warnings)
			for _, w := range g.Warnings {
				assert.Equal(t, CodeCostEstimate, w.Code)
				assert.Equal(t, "demo", w.RGD)
				assert.NotEmpty(t, w.Field, "every warning names a field: %s", w)
				assert.NotEmpty(t, w.Expression, "every warning names its expression: %s", w)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".warn", g.Warnings.Error()+"\n")

			_, err = Compile(context.Background(), loadRGD(t, f), Options{Resolver: resolver, StrictCostEstimate: true})
			var list ErrorList
			require.True(t, errors.As(err, &list), "strict: the RGD is rejected with an ErrorList, got %v", err)
			require.Len(t, list, len(g.Warnings), "strict: every warning, and nothing else, is an error")
			for i, e := range list {
				w := g.Warnings[i]
				assert.Equal(t, CodeCostEstimate, e.Code)
				assert.Equal(t, [3]string{w.ResourceID, w.Field, w.Expression}, [3]string{e.ResourceID, e.Field, e.Expression})
				assert.Contains(t, e.Message, "rejected: strict cost estimates are on")
			}
		})
	}
}

// TestValidRGDsHaveNoWarnings checks that the RGDs under testdata/valid
// compile without warnings, in strict mode too.
func TestValidRGDsHaveNoWarnings(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	require.NoError(t, err)
	resolver := testResolver(t)
	for _, f := range files {
		g, err := Compile(context.Background(), loadRGD(t, f), Options{Resolver: resolver, StrictCostEstimate: true})
		require.NoError(t, err, f)
		assert.Empty(t, g.Warnings, f)
	}
}
