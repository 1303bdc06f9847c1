package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gitRepo makes a repository with one commit dated 1700000000 and returns
// its directory.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("rgd\n"), 0o644))
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "README"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_DATE=1700000000 +0000", "GIT_COMMITTER_DATE=1700000000 +0000")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	return dir
}

func TestResolveMeta(t *testing.T) {
	ctx := context.Background()
	dir := gitRepo(t)
	t.Setenv("SOURCE_DATE_EPOCH", "")
	head, err := git(ctx, dir, "rev-parse", "HEAD")
	require.NoError(t, err)

	m, err := resolveMeta(ctx, dir, metaOverrides{source: "https://example.com/rgd"})
	require.NoError(t, err)
	assert.Equal(t, head[:7], m.version[:7], "no tag: the short hash")
	assert.Equal(t, head, m.revision)
	assert.Equal(t, time.Unix(1700000000, 0).UTC(), m.created, "the commit time")
	assert.Equal(t, "https://example.com/rgd", m.source)

	_, err = git(ctx, dir, "tag", "v0.1.0")
	require.NoError(t, err)
	m, err = resolveMeta(ctx, dir, metaOverrides{})
	require.NoError(t, err)
	assert.Equal(t, "v0.1.0", m.version)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("changed\n"), 0o644))
	m, err = resolveMeta(ctx, dir, metaOverrides{})
	require.NoError(t, err)
	assert.Equal(t, "v0.1.0-dirty", m.version, "a changed tree says so")

	t.Setenv("SOURCE_DATE_EPOCH", "1600000000")
	m, err = resolveMeta(ctx, dir, metaOverrides{version: "v9.9.9", revision: "abc"})
	require.NoError(t, err)
	assert.Equal(t, meta{version: "v9.9.9", revision: "abc", created: time.Unix(1600000000, 0).UTC()}, m)

	m, err = resolveMeta(ctx, dir, metaOverrides{epoch: "1500000000"})
	require.NoError(t, err)
	assert.Equal(t, time.Unix(1500000000, 0).UTC(), m.created, "--epoch wins over SOURCE_DATE_EPOCH")
}

func TestResolveMetaErrors(t *testing.T) {
	ctx := context.Background()
	notGit := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "")
	for name, o := range map[string]metaOverrides{
		"no git for the version":  {revision: "abc", epoch: "1"},
		"no git for the revision": {version: "v1", epoch: "1"},
		"no git for the time":     {version: "v1", revision: "abc"},
		"bad epoch":               {version: "v1", revision: "abc", epoch: "yesterday"},
		"bad version":             {version: "v1 -X main.x=y", revision: "abc", epoch: "1"},
	} {
		_, err := resolveMeta(ctx, notGit, o)
		assert.Error(t, err, name)
	}
	_, err := resolveMeta(ctx, notGit, metaOverrides{version: "v1", revision: "abc", epoch: "1"})
	assert.NoError(t, err, "no git needed when everything is given")
}

func TestParseBuildFlags(t *testing.T) {
	o, err := parseBuildFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []v1.Platform{amd64, arm64}, o.compile.platforms)
	assert.Equal(t, "./cmd/rgd", o.compile.pkg)
	assert.Equal(t, "bin/image", o.layout)
	assert.Equal(t, "bin/rgd-image.tar", o.archive)
	assert.Equal(t, "rgd:dev", o.tag)

	o, err = parseBuildFlags([]string{"--platforms", "linux/arm64, linux/arm/v7"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []v1.Platform{arm64, {OS: "linux", Architecture: "arm", Variant: "v7"}}, o.compile.platforms)

	_, err = parseBuildFlags([]string{"--platforms", "linux"}, io.Discard)
	require.ErrorContains(t, err, "expected OS/ARCH")
	_, err = parseBuildFlags([]string{"--platforms", "linux/amd64,linux/amd64"}, io.Discard)
	require.ErrorContains(t, err, "twice")
	_, err = parseBuildFlags([]string{"extra"}, io.Discard)
	require.ErrorContains(t, err, "flags only")
}

func TestLoadPlatform(t *testing.T) {
	p, err := loadPlatform([]v1.Platform{amd64, arm64}, "linux/arm64")
	require.NoError(t, err)
	assert.Equal(t, arm64, p)
	_, err = loadPlatform([]v1.Platform{amd64}, "linux/arm64")
	require.ErrorContains(t, err, "expected one of the built platforms")
	p, err = loadPlatform([]v1.Platform{{OS: "linux", Architecture: "s390x"}}, "")
	require.NoError(t, err)
	assert.Equal(t, "s390x", p.Architecture, "the host's platform is not built: the first")
}
