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
