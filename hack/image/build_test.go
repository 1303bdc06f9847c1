package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goTool is the go command running these tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// TestBuildRgd runs `image build` on this checkout, as `make image` does, twice,
// and reads the results back. The command runs as a separate process built
// without the race detector: compressing two 67 MB binaries under it takes
// minutes, and the in-process tests cover the same code with small inputs.
func TestBuildRgd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross-compiles ./cmd/rgd for linux/amd64 and linux/arm64, twice (about a minute with a warm build cache)")
	}
	gobin := goTool(t)
	dir := t.TempDir()
	tool := filepath.Join(dir, "image")
	out, err := exec.Command(gobin, "build", "-o", tool, ".").CombinedOutput()
	require.NoError(t, err, "building the image command: %s", out)

	const version = "v0.0.0-imagetest"
	m := meta{
		version:  version,
		revision: "0123456789abcdef0123456789abcdef01234567",
		source:   "https://github.com/rgd-dev/rgd",
		created:  testMeta().created,
	}
	buildInto := func(sub string) (layoutDir, archive, stdout string) {
		layoutDir, archive = filepath.Join(dir, sub, "image"), filepath.Join(dir, sub, "rgd-image.tar")
		cmd := exec.Command(tool, "build", "--go", gobin, "--dir", "../..",
			"--layout", layoutDir, "--tar", archive, "--tag", "example.com/rgd:test",
			"--version", m.version, "--revision", m.revision, "--epoch", "1700000000")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		require.NoError(t, err, "image build: %s", stderr.String())
		return layoutDir, archive, string(b)
	}

	layoutDir, archive, stdout := buildInto("a")
	idx, err := readIndex(layoutDir)
	require.NoError(t, err)
	digest := digestOf(t, idx)
	assert.Contains(t, stdout, digest.String(), "the index digest is printed")
	binaries := checkIndex(t, idx, m, map[string]string{"linux/amd64": "", "linux/arm64": ""})
	checkELF(t, binaries["linux/amd64"], elf.EM_X86_64)
	checkELF(t, binaries["linux/arm64"], elf.EM_AARCH64)

	host := "linux/" + runtime.GOARCH
	if runtime.GOOS == "linux" && binaries[host] != nil {
		bin := filepath.Join(dir, "rgd")
		require.NoError(t, os.WriteFile(bin, binaries[host], 0o755))
		got, err := exec.Command(bin, "version").CombinedOutput()
		require.NoError(t, err, "%s", got)
		assert.True(t, strings.HasPrefix(string(got), "rgd "+version+" "), "rgd version printed %q", got)
	} else {
		t.Logf("not running /rgd: this test runs on %s/%s, the image is for linux/amd64 and linux/arm64", runtime.GOOS, runtime.GOARCH)
	}

	hostImg, err := imageFor(idx, loadPlatformOrFirst(t, idx, host))
	require.NoError(t, err)
	tag, err := name.NewTag("example.com/rgd:test")
	require.NoError(t, err)
	checkArchive(t, archive, tag, hostImg, digest)

	layoutB, archiveB, _ := buildInto("b")
	idxB, err := readIndex(layoutB)
	require.NoError(t, err)
	assert.Equal(t, digest, digestOf(t, idxB), "the same commit builds the same index")
	assert.Equal(t, sha256File(t, archive), sha256File(t, archiveB), "and the same archive")
}

// loadPlatformOrFirst is the platform the archive's manifest.json names.
func loadPlatformOrFirst(t *testing.T, idx v1.ImageIndex, host string) v1.Platform {
	t.Helper()
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	for _, d := range im.Manifests {
		if d.Platform.String() == host {
			return *d.Platform
		}
	}
	return *im.Manifests[0].Platform
}

// checkELF asserts that b is a static executable for machine.
func checkELF(t *testing.T, b []byte, machine elf.Machine) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, machine, f.Machine)
	assert.Equal(t, elf.ET_EXEC, f.Type, "%s: an executable", machine)
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s: static, no interpreter", machine)
	}
	assert.Nil(t, f.Section(".symtab"), "%s: stripped", machine)
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}
