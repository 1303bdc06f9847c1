package engine_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// Resource ids longer than a label value (63 characters), for a resource
// and for a collection.
const (
	longSingleID     = "configMapForTheTeamThatOwnsTheCheckoutServiceInTheEuropeanRegionNo1234"
	longCollectionID = "entriesForTheTeamThatOwnsTheCheckoutServiceInTheEuropeanRegionNo1234"
)

// A resource whose id is too long for the node-id label gets a hash of it
// there, as kro v0.10 does, and its full id in the node-path annotation: its
// children are created, found by that label, pruned and deleted.
func TestScenarioLongResourceID(t *testing.T) {
	s := newSc(t, "LongID")
	s.setup(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      keep: boolean | default=true
      names: '[]string'
  resources:
  - id: ` + longSingleID + `
    includeWhen:
    - ${schema.spec.keep}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-single
      data:
        value: hello
  - id: ` + longCollectionID + `
    forEach:
    - name: ${schema.spec.names}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-${name}
      data:
        name: ${name}
`)
	s.instance("long", map[string]any{"names": []any{"a", "b"}}, nil)
	s.waitState("long", "ACTIVE")

	single := s.waitCMValue("long-single", "value", "hello")
	assert.Equal(t, "h-a6bed534375e7b5b42e470486b843ff33f58f464", single.GetLabels()[metadata.LabelNodeID])
	assert.Equal(t, longSingleID, single.GetAnnotations()[metadata.AnnotationNodePath])
	assert.Equal(t, []string{"long-single"}, cmNames(s.listCMs(metadata.NodeIDSelector(longSingleID))))
	items := s.listCMs(metadata.NodeIDSelector(longCollectionID))
	require.Equal(t, []string{"long-a", "long-b"}, cmNames(items))
	for _, it := range items {
		assert.Equal(t, longCollectionID, it.GetAnnotations()[metadata.AnnotationNodePath], it.GetName())
	}

	// Drift on the child is corrected: its events reach the instance.
	s.mergePatch(configMaps, s.ns, "long-single", `{"data":{"value":"tampered"}}`)
	s.waitCMValue("long-single", "value", "hello")

	// Pruned when the resource leaves the graph, and when the collection
	// shrinks.
	s.instance("long", map[string]any{"keep": false, "names": []any{"b"}}, nil)
	s.waitGone(configMaps, s.ns, "long-single")
	s.waitGone(configMaps, s.ns, "long-a")
	s.waitState("long", "ACTIVE")

	s.deleteInstance("long")
	s.waitGone(s.gvr, s.ns, "long")
	assert.Empty(t, s.listCMs(metadata.LabelInstanceName+"=long"))
}
