package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/version"
)

func TestRecordedVersion(t *testing.T) {
	v, err := recordedVersion(&version.Info{GitVersion: "v1.37.2", Major: "1", Minor: "37"}, "v1.36.0")
	require.NoError(t, err)
	assert.Equal(t, "v1.37.2", v, "a stamped server version wins")

	v, err = recordedVersion(&version.Info{GitVersion: "v0.0.0-master+$Format:%H$", Major: "1", Minor: "37"}, "v1.37.2")
	require.NoError(t, err)
	assert.Equal(t, "v1.37.2", v)

	_, err = recordedVersion(&version.Info{GitVersion: "v0.0.0-master+$Format:%H$", Major: "1", Minor: "36"}, "v1.37.2")
	require.ErrorContains(t, err, "does not match -kubernetes-version")
}

func TestGVPath(t *testing.T) {
	for path, want := range map[string]bool{
		"api/v1": true, "apis/apps/v1": true, "apis/rbac.authorization.k8s.io/v1": true,
		"api": false, "apis": false, "apis/apps": false, "version": false, ".well-known/openid-configuration": false, "openid/v1/jwks": false,
	} {
		assert.Equal(t, want, gvPath.MatchString(path), path)
	}
}
