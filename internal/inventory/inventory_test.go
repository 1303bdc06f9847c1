package inventory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

func TestInventoryRoundTrip(t *testing.T) {
	cm := Entry{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "a", Name: "x", Node: "config", Wave: 1}
	dep := Entry{APIVersion: "apps/v1", Kind: "Deployment", Resource: "deployments", Namespace: "a", Name: "x", Node: "deployment", Wave: 2}
	ns := Entry{APIVersion: "v1", Kind: "Namespace", Resource: "namespaces", Name: "a", Node: "ns", Wave: 0}

	var inv Inventory
	inv, added := inv.With(dep, cm)
	require.True(t, added)
	inv, added = inv.With(cm, ns)
	require.True(t, added)
	_, added = inv.With(cm)
	require.False(t, added, "an entry already there is not added twice")

	back, err := Read(map[string]string{metadata.AnnotationInventory: inv.Encode()})
	require.NoError(t, err)
	assert.Equal(t, inv, back)
	assert.Equal(t, []Entry{dep}, back.LastWave())
	assert.Equal(t, Inventory{cm, dep}, back.Without(ns))
	assert.Equal(t, "apps/v1 Deployment a/x", dep.String())
}

func TestReadInventoryErrors(t *testing.T) {
	inv, err := Read(nil)
	require.NoError(t, err)
	assert.Empty(t, inv)
	_, err = Read(map[string]string{metadata.AnnotationInventory: "{"})
	assert.ErrorContains(t, err, "not a valid inventory")
}

// TestInventoryRecordsDeletionPolicy checks that the policy of a child is
// part of the record: a change of it is a change of the inventory, which
// survives encoding, and the default (delete) costs nothing in the
// annotation.
func TestInventoryRecordsDeletionPolicy(t *testing.T) {
	kept := Entry{APIVersion: "v1", Kind: "PersistentVolumeClaim", Resource: "persistentvolumeclaims", Namespace: "a", Name: "data", Node: "data", Wave: 1}
	inv, changed := Inventory(nil).With(kept)
	require.True(t, changed)
	assert.NotContains(t, inv.Encode(), `"o"`, "deleting is the default and is not spelled out")

	kept.Orphan = true
	inv, changed = inv.With(kept)
	require.True(t, changed, "a child now to be left in place changes the record")
	require.Len(t, inv, 1)
	assert.True(t, inv[0].Orphan)
	_, changed = inv.With(kept)
	assert.False(t, changed, "the same policy again changes nothing")

	back, err := Read(map[string]string{metadata.AnnotationInventory: inv.Encode()})
	require.NoError(t, err)
	assert.Equal(t, inv, back)

	kept.Orphan = false
	inv, changed = inv.With(kept)
	require.True(t, changed)
	assert.False(t, inv[0].Orphan, "and back to deleting")
}
