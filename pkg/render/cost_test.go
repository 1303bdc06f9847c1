package render

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rgd-dev/rgd/pkg/celenv"
)

// costly's estimate is above the static limit (a warning): the runtime
// limit is what stops it on a large list.
const costly = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: costly
spec:
  schema:
    apiVersion: v1alpha1
    kind: Costly
    spec:
      names: "[]string"
  resources:
  - id: pairs
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: pairs
      data:
        pairs: ${schema.spec.names.map(a, schema.spec.names.map(b, a + b).join(",")).join(";")}
`

// TestRuntimeCostLimitNamesResourceAndExpression checks the error of an
// evaluation stopped at the runtime cost limit: it names the resource, the
// field and the expression, says the limit was hit, and wraps
// celenv.ErrCostLimitExceeded; a small input renders.
func TestRuntimeCostLimitNamesResourceAndExpression(t *testing.T) {
	g := compile(t, costly)
	require.NotEmpty(t, g.Warnings, "the estimate is above the static limit")

	small := NewInputs(g, instance(map[string]any{"names": []any{"a", "b"}}), nil)
	res, err := Resource(g.Resource("pairs"), small, "team", Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"pairs": "aa,ab;ba,bb"}, res.Objects[0]["data"])

	names := make([]any, 1500)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i)
	}
	huge := NewInputs(g, instance(map[string]any{"names": names}), nil)
	_, err = Resource(g.Resource("pairs"), huge, "team", Options{})
	require.Error(t, err)
	assert.True(t, errors.Is(err, celenv.ErrCostLimitExceeded), "%v", err)
	assert.Equal(t, `resource "pairs": data.pairs: ${schema.spec.names.map(a, schema.spec.names.map(b, a + b).join(",")).join(";")}: `+
		`the runtime CEL cost limit was hit: the evaluation was stopped at the per-evaluation limit of 1000000 `+
		`(its input is too large for what it computes: bound the lists and strings it iterates, or avoid nested loops)`, err.Error())
}
