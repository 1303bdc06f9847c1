package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
)

// TestLint is `helm lint --strict charts/rgd`, with the chart's defaults
// and with the values of each rendering: no warning, no error. Helm's
// informational notes (such as "icon is recommended") are logged.
func TestLint(t *testing.T) {
	sets := map[string][]string{"defaults": nil}
	for _, r := range renderings {
		sets[r.Out] = r.Values
	}
	for name, files := range sets {
		t.Run(name, func(t *testing.T) {
			vals, err := readValues(root, files)
			require.NoError(t, err)
			result := lint.RunAll(filepath.Join(root, chartDir), vals, releaseNamespace)
			for _, m := range result.Messages {
				if m.Severity <= support.InfoSev {
					t.Log(m.Error())
					continue
				}
				assert.Fail(t, "helm lint", "%s", m.Error())
			}
		})
	}
}
