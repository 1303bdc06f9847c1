package devcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBinDirOrder(t *testing.T) {
	t.Setenv(BinariesEnv, "/from/env")
	assert.Equal(t, "/override", BinDir("/override"))
	assert.Equal(t, "/from/env", BinDir(""))
	t.Setenv(BinariesEnv, "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	assert.Equal(t, filepath.Join("/xdg", "rgd", "k8s-"+KubernetesVersion), BinDir(""))
}

func TestCheckBinariesListsEveryMissingOne(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, Etcd), []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, Kwok), []byte("not executable"), 0o644))
	err := CheckBinaries(dir, Etcd, KubeAPIServer, Kwok)
	require.Error(t, err)
	var m *MissingBinariesError
	require.ErrorAs(t, err, &m)
	assert.Equal(t, []string{KubeAPIServer, Kwok}, m.Names)
	assert.True(t, strings.Contains(err.Error(), "make control-plane"))
	assert.NoError(t, CheckBinaries(dir, Etcd))
}

func TestAdminTokenIsReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	tok, err := ensureAdminToken(path)
	require.NoError(t, err)
	require.Len(t, tok, 48)
	again, err := ensureAdminToken(path)
	require.NoError(t, err)
	assert.Equal(t, tok, again)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, tok+",admin,admin,\"system:masters\"\n", string(data))

	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	_, err = ensureAdminToken(path)
	assert.ErrorContains(t, err, "expected a line token,user,uid,groups")
}

func TestServiceAccountKeysWrittenOnce(t *testing.T) {
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	require.NoError(t, ensureServiceAccountKeys(key, pub))
	first, err := os.ReadFile(key)
	require.NoError(t, err)
	assert.Contains(t, string(first), "BEGIN RSA PRIVATE KEY")
	pubData, err := os.ReadFile(pub)
	require.NoError(t, err)
	assert.Contains(t, string(pubData), "BEGIN PUBLIC KEY")
	require.NoError(t, ensureServiceAccountKeys(key, pub))
	second, err := os.ReadFile(key)
	require.NoError(t, err)
	assert.Equal(t, first, second)
}

func TestResetStateLeavesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "etcd", "member"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kubeconfig"), nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600))
	require.NoError(t, resetState(dir))
	assert.NoDirExists(t, filepath.Join(dir, "etcd"))
	assert.NoFileExists(t, filepath.Join(dir, "kubeconfig"))
	assert.FileExists(t, filepath.Join(dir, "notes.txt"))
}
