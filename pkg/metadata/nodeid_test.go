package metadata

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation"
)

// TestNodeIDLabel checks the node-id label value: the id while it fits in a
// label value, a stable h-prefixed hash beyond. The hashes are SHA-256
// prefixes computed outside Go, so that a change of the scheme (which would
// orphan every existing child with a long id) fails here.
func TestNodeIDLabel(t *testing.T) {
	long70 := "configMapForTheTeamThatOwnsTheCheckoutServiceInTheEuropeanRegionNo1234"
	for _, tc := range []struct{ path, want string }{
		{"deployment", "deployment"},
		{strings.Repeat("a", 63), strings.Repeat("a", 63)},
		{strings.Repeat("a", 64), "h-ffe054fe7ae0cb6dc65c3af9b61d5209f439851d"},
		{long70, "h-a6bed534375e7b5b42e470486b843ff33f58f464"},
		{"backend/deployment", "backend.deployment"},
		{"backend/" + strings.Repeat("d", 60), "h-f4650bcf98f6518406f0a10f98037b2c0833e871"},
	} {
		got := NodeIDLabel(tc.path)
		assert.Equal(t, tc.want, got, tc.path)
		assert.Empty(t, validation.IsValidLabelValue(got), "%q is a valid label value", got)
	}
	assert.Equal(t, LabelNodeID+"=h-a6bed534375e7b5b42e470486b843ff33f58f464", NodeIDSelector(long70))
	assert.NotEqual(t, NodeIDLabel(long70), NodeIDLabel(long70[:69]+"5"), "ids that differ get different labels")
}
