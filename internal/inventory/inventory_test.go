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

// TestInventoryRecordsIdentity checks that the ServiceAccount a child is
// written with is recorded with a new child, kept by With for a child
// already recorded (the recorded identity is the one that can delete it),
// changed only by WrittenAs, and omitted for the engine's own identity.
func TestInventoryRecordsIdentity(t *testing.T) {
	cm := Entry{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "a", Name: "x", Node: "config", Wave: 1}
	inv, _ := Inventory(nil).With(cm)
	assert.NotContains(t, inv.Encode(), `"sa"`, "the engine's own identity is not spelled out")

	asTenant := cm
	asTenant.SA = "a/tenant"
	inv, changed := Inventory(nil).With(asTenant)
	require.True(t, changed)
	assert.Contains(t, inv.Encode(), `"sa":"a/tenant"`)

	asOther := cm
	asOther.SA = "a/other"
	_, changed = inv.With(asOther)
	assert.False(t, changed, "a recorded child keeps the identity that wrote it")
	_, changed = inv.WrittenAs(asTenant)
	assert.False(t, changed)
	moved, changed := inv.WrittenAs(asOther)
	require.True(t, changed, "once written as another identity, that one is recorded")
	assert.Equal(t, "a/other", moved[0].SA)
	assert.Equal(t, "a/tenant", inv[0].SA, "WrittenAs does not change the inventory it was called on")
	none, changed := Inventory(nil).WrittenAs(asOther)
	assert.False(t, changed, "WrittenAs adds nothing")
	assert.Empty(t, none)

	back, err := Read(map[string]string{metadata.AnnotationInventory: moved.Encode()})
	require.NoError(t, err)
	assert.Equal(t, moved, back)
}
