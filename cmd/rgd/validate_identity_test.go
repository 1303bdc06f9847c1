package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateSaysWhichIdentityWritesChildren checks that validate names the
// ServiceAccount an RGD's rgd.dev/service-account annotation gives its
// children, in both of the annotation's forms, and reports a malformed one
// with its field path.
func TestValidateSaysWhichIdentityWritesChildren(t *testing.T) {
	tenant := "pkg/graph/testdata/valid/service-account-tenant.yaml"
	fixed := "pkg/graph/testdata/valid/service-account-fixed-cluster.yaml"
	res := rgd(t, "validate", tenant, fixed)
	require.Equal(t, 0, res.code, "%s", res)
	assert.Equal(t,
		tenant+`: ResourceGraphDefinition "service-account-tenant" is valid: kind TenantApp, 1 resources in order config; `+
			"children are written as serviceaccount writer in each instance's namespace\n"+
			fixed+`: ResourceGraphDefinition "service-account-fixed-cluster" is valid: kind PlatformApp, 1 resources in order config; `+
			"children are written as serviceaccount platform/writer\n",
		res.stdout)

	bad := "pkg/graph/testdata/invalid/service-account-two-slashes.yaml"
	res = rgd(t, "validate", bad)
	require.Equal(t, 1, res.code, "%s", res)
	assert.Contains(t, res.stderr, bad+`: rgd "demo": metadata.annotations[rgd.dev/service-account]: "a/b/c" has more than one '/'`)
}
