package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEngine writes a script standing in for the rgd binary: it prints its
// arguments and exits with code.
func fakeEngine(t *testing.T, code string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rgd")
	script := "#!/bin/sh\necho \"rgd: refused: $*\" >&2\nexit " + code + "\n"
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	return bin
}

func TestCheckEngineFlags(t *testing.T) {
	err := checkEngineFlags(t.Context(), fakeEngine(t, "2"), []string{"--qps", "-1"})
	require.Error(t, err, "exit 2 is the engine refusing its flags")
	assert.Contains(t, err.Error(), "rgd controller refuses the engine flags --qps -1: rgd: refused: controller --kubeconfig")

	assert.NoError(t, checkEngineFlags(t.Context(), fakeEngine(t, "1"), []string{"--qps", "-1"}), "exit 1: flags accepted, the kubeconfig missing")
	assert.NoError(t, checkEngineFlags(t.Context(), filepath.Join(t.TempDir(), "absent"), nil), "nothing to check without flags")
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rgd.log")
	require.NoError(t, os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644))
	assert.Equal(t, "c\nd", logTail(path, 2))
	assert.Equal(t, "a\nb\nc\nd", logTail(path, 10))
	assert.Contains(t, logTail(filepath.Join(t.TempDir(), "none"), 2), "no such file")
}
