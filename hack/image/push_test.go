package main

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPush(t *testing.T) {
	// No credentials of this machine's user: anonymous, as the registry wants.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(t.TempDir(), "auth.json"))
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	m := testMeta()
	idx, err := newIndex(m, fakeBinaries())
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "image")
	tag, err := name.NewTag("rgd:dev")
	require.NoError(t, err)
	require.NoError(t, writeLayout(dir, idx, tag))

	ref := host + "/rgd-dev/rgd:v0.1.0"
	ctx := context.Background()
	pushed, err := push(ctx, dir, ref)
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, idx), pushed)

	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	pulled, err := remote.Index(r, remote.WithContext(ctx))
	require.NoError(t, err)
	assert.Equal(t, pushed, digestOf(t, pulled), "the registry serves the index built")
	checkIndex(t, pulled, m, map[string]string{"linux/amd64": "rgd for linux/amd64", "linux/arm64": "rgd for linux/arm64"})

	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(arm64))
	require.NoError(t, err)
	want, err := imageFor(idx, arm64)
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, want), digestOf(t, img), "a client on arm64 gets the arm64 image")

	_, err = push(ctx, dir, "not a reference")
	require.Error(t, err)
	_, err = push(ctx, filepath.Join(t.TempDir(), "missing"), ref)
	require.ErrorContains(t, err, "make image")
}

func TestRunPushArguments(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"push"}, &out, &out)
	require.ErrorContains(t, err, "expected one image reference")
	err = run(context.Background(), []string{"pull"}, &out, &out)
	require.ErrorContains(t, err, "expected build or push")
}
