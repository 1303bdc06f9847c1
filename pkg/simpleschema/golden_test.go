package simpleschema

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// schemaDoc is the part of an RGD's spec.schema that this package reads.
type schemaDoc struct {
	Spec  map[string]any `json:"spec"`
	Types map[string]any `json:"types"`
}

// goldenOutput is the JSON of the produced schema, or of the errors when there are any.
func goldenOutput(t *testing.T, in []byte) []byte {
	t.Helper()
	var doc schemaDoc
	require.NoError(t, yaml.Unmarshal(in, &doc))
	s, errs := ToOpenAPI(doc.Spec, doc.Types, Options{})
	var v any = s
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		v = map[string][]string{"errors": msgs}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			require.NoError(t, err)
			got := goldenOutput(t, src)
			goldenPath := strings.TrimSuffix(in, ".yaml") + ".json"
			if *update {
				require.NoError(t, os.WriteFile(goldenPath, got, 0o644))
			}
			want, err := os.ReadFile(goldenPath)
			require.NoError(t, err, "run go test -run TestGolden -update to create it")
			assert.Equal(t, string(want), string(got))
		})
	}
}
