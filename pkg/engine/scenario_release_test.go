package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// Children left in place by their resource's deletionPolicy: released (rgd's
// labels and annotations stripped) instead of deleted, whenever rgd no
// longer wants them.

// rgdKeys returns the labels and annotations of rgd's on an object.
func rgdKeys(o *unstructured.Unstructured) []string {
	var keys []string
	for k := range o.GetLabels() {
		if metadata.IsChildKey(k) {
			keys = append(keys, k)
		}
	}
	for k := range o.GetAnnotations() {
		if metadata.IsChildKey(k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// waitReleased waits until a ConfigMap of the scenario exists without any
// label or annotation of rgd's, and returns it.
func (s *sc) waitReleased(name string) *unstructured.Unstructured {
	s.t.Helper()
	return s.waitObj(configMaps, s.ns, name, "ConfigMap "+name+" released", func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return false, "deleted, but it should have been left in place"
		}
		keys := rgdKeys(o)
		return len(keys) == 0, fmt.Sprintf("still carries %v", keys)
	})
}

// inventoryOf reads an instance's inventory.
func inventoryOf(t *testing.T, inst *unstructured.Unstructured) inventory.Inventory {
	t.Helper()
	inv, err := inventory.Read(inst.GetAnnotations())
	require.NoError(t, err)
	return inv
}

// waitInventoryWithout waits until an instance is ACTIVE and its inventory
// no longer names a child.
func (s *sc) waitInventoryWithout(instance, child string) *unstructured.Unstructured {
	s.t.Helper()
	return s.waitInstance(instance, "inventory without "+child, func(o *unstructured.Unstructured) (bool, string) {
		inv := o.GetAnnotations()[metadata.AnnotationInventory]
		return !strings.Contains(inv, `"`+child+`"`) && scState(o) == "ACTIVE", inv
	})
}

const orphanRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      enabled: boolean | default=true
  resources:
  - id: kept
    deletionPolicy: Orphaned
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-kept
        labels:
          team: platform
      data:
        k: v
  - id: detached
    deletionPolicy: Detach
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-detached
      data:
        from: ${kept.data.k}
  - id: optional
    deletionPolicy: Orphaned
    includeWhen:
    - ${schema.spec.enabled}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-optional
      data:
        k: v
  - id: deleted
    deletionPolicy: Delete
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-deleted
      data:
        from: ${kept.data.k}
`

// TestScenarioOrphanedChildSurvivesInstanceDeletion deletes an instance:
// the children of Orphaned and Detach resources stay, released, with the
// template's own labels and data; the others go.
func TestScenarioOrphanedChildSurvivesInstanceDeletion(t *testing.T) {
	s := newSc(t, "OrphanDelete")
	s.setup(orphanRGD)
	s.instance("o", nil, nil)
	inst := s.waitState("o", "ACTIVE")

	kept := s.waitCMValue("o-kept", "k", "v")
	assert.Equal(t, "Orphaned", kept.GetAnnotations()[metadata.AnnotationDeletionPolicy], "kro's annotation for Orphaned")
	detached := s.waitCMValue("o-detached", "from", "v")
	assert.Equal(t, "Detach", detached.GetAnnotations()[metadata.AnnotationDeletionPolicyDetach], "kro's annotation for Detach")
	deleted := s.waitCMValue("o-deleted", "from", "v")
	assert.NotContains(t, deleted.GetAnnotations(), metadata.AnnotationDeletionPolicy, "Delete is the default: no annotation")
	orphans := map[string]bool{}
	for _, e := range inventoryOf(t, inst) {
		orphans[e.Name] = e.Orphan
	}
	assert.Equal(t, map[string]bool{"o-kept": true, "o-detached": true, "o-optional": true, "o-deleted": false}, orphans,
		"the inventory records what to leave in place before the children exist")

	s.deleteInstance("o")
	s.waitGone(s.gvr, s.ns, "o")
	assert.False(t, s.exists(configMaps, s.ns, "o-deleted"), "a Delete child goes with its instance")
	for _, name := range []string{"o-kept", "o-detached", "o-optional"} {
		s.waitReleased(name)
	}
	kept = s.waitReleased("o-kept")
	assert.Equal(t, map[string]string{"team": "platform"}, kept.GetLabels(), "the template's own labels stay")
	assert.Equal(t, map[string]any{"k": "v"}, scData(kept), "the object is left as it was")
}

// TestScenarioOrphanedOnPrune removes orphaned children from the graph: by
// includeWhen turning false, and by the resource leaving the RGD. Both are
// released and leave the inventory; the instance stays ACTIVE. The same RGD
// update turns a Delete resource into an Orphaned one: its inventory entry
// and annotation follow, and deleting the instance leaves it in place.
func TestScenarioOrphanedOnPrune(t *testing.T) {
	s := newSc(t, "OrphanPrune")
	s.setup(orphanRGD)
	s.instance("p", map[string]any{"enabled": true}, nil)
	s.waitState("p", "ACTIVE")
	s.waitCMValue("p-optional", "k", "v")

	s.instance("p", map[string]any{"enabled": false}, nil)
	s.waitReleased("p-optional")
	s.waitInventoryWithout("p", "p-optional")

	// The RGD without the detached resource.
	without := strings.Replace(orphanRGD, `  - id: detached
    deletionPolicy: Detach
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-detached
      data:
        from: ${kept.data.k}
`, "", 1)
	without = strings.Replace(without, "deletionPolicy: Delete", "deletionPolicy: Orphaned", 1)
	require.NotEqual(t, orphanRGD, without)
	s.apply(without)
	s.waitReleased("p-detached")
	s.waitInventoryWithout("p", "p-detached")
	s.waitObj(configMaps, s.ns, "p-deleted", "p-deleted annotated Orphaned", func(o *unstructured.Unstructured) (bool, string) {
		return o != nil && o.GetAnnotations()[metadata.AnnotationDeletionPolicy] == "Orphaned", scJSON(o)
	})
	inst := s.getInstance("p")
	orphans := map[string]bool{}
	for _, e := range inventoryOf(t, inst) {
		orphans[e.Name] = e.Orphan
	}
	assert.Equal(t, map[string]bool{"p-kept": true, "p-deleted": true}, orphans, "the new policy is recorded")

	s.deleteInstance("p")
	s.waitGone(s.gvr, s.ns, "p")
	s.waitReleased("p-kept")
	s.waitReleased("p-deleted")
}

// TestScenarioOrphanedOnCollectionShrink shrinks a collection of orphaned
// children: the dropped item is released, the others stay rgd's until their
// instance is deleted, when they are released too.
func TestScenarioOrphanedOnCollectionShrink(t *testing.T) {
	s := newSc(t, "OrphanShrink")
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
      names: '[]string'
  resources:
  - id: entries
    deletionPolicy: Orphaned
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
	s.instance("c", map[string]any{"names": []any{"a", "b"}}, nil)
	s.waitState("c", "ACTIVE")
	s.waitCMValue("c-a", "name", "a")

	s.instance("c", map[string]any{"names": []any{"b"}}, nil)
	a := s.waitReleased("c-a")
	assert.Equal(t, map[string]any{"name": "a"}, scData(a))
	s.waitInventoryWithout("c", "c-a")
	b := s.waitCM("c-b", func(d map[string]any) (bool, string) { return d["name"] == "b", scJSON(d) })
	assert.Equal(t, "1", b.GetLabels()[metadata.LabelCollectionSize], "the remaining item is still rgd's")

	s.deleteInstance("c")
	s.waitGone(s.gvr, s.ns, "c")
	s.waitReleased("c-b")
	s.waitReleased("c-a")
}
