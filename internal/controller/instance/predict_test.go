package instance

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/render"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// TestPredictChildrenMatchesWalk checks that the inventory written with the
// first instance patch names exactly the children the walk creates, so that
// creating them needs no further inventory write.
func TestPredictChildrenMatchesWalk(t *testing.T) {
	raw, err := os.ReadFile("testdata/fourresources.yaml")
	require.NoError(t, err)
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.Unmarshal(raw, rgd))
	g, err := graph.Compile(context.Background(), rgd, graph.Options{Resolver: schemas.Builtin()})
	require.NoError(t, err)

	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "BenchApp",
		"metadata": map[string]any{"name": "a", "namespace": "team", "uid": "u-1"},
		"spec":     map[string]any{"value": "v1", "image": "pause"},
	}}
	r := &Reconciler{opts: Options{}}
	st := &kindState{kind: Kind{Graph: g}, layout: newLayout(g)}
	predicted := r.predictChildren(st, inst)
	require.Len(t, predicted, 4)

	in := render.NewInputs(g, inst.Object, nil)
	var walked []inventory.Entry
	for _, res := range g.Resources {
		rr, err := render.Resource(res, in, inst.GetNamespace(), render.Options{})
		require.NoError(t, err)
		for _, obj := range rr.Objects {
			walked = append(walked, st.layout.entry(res, &unstructured.Unstructured{Object: obj}))
			in.Set(res.ID, obj)
		}
	}
	inv, _ := inventory.Inventory(nil).With(predicted...)
	_, added := inv.With(walked...)
	assert.False(t, added, "the walk adds nothing to the predicted inventory: predicted %v, walked %v", predicted, walked)
}
