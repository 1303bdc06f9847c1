package metadata

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsSuspended(t *testing.T) {
	for v, want := range map[string]bool{"suspended": true, "Suspended": true, "disabled": true, "DISABLED": true, "": false, "active": false, "suspend": false} {
		assert.Equal(t, want, IsSuspended(map[string]string{AnnotationReconcile: v}), v)
	}
	assert.False(t, IsSuspended(nil))
}

// TestIsChildKey checks which keys releasing a child strips: rgd's own, and
// anything under the prefixes templates may not use; never the template's.
func TestIsChildKey(t *testing.T) {
	for _, k := range append(ChildLabels(), ChildAnnotations()...) {
		assert.True(t, IsChildKey(k), k)
	}
	for k, want := range map[string]bool{
		"kro.run/some-future-label": true, "internal.kro.run/node-path": true,
		"team": false, "app.kubernetes.io/name": false, "example.com/kro.run/x": false, "rgd.dev/other": false,
	} {
		assert.Equal(t, want, IsChildKey(k), k)
	}
}
