package main

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

func testMeta() meta {
	return meta{
		version:  "v0.1.0",
		revision: "0123456789abcdef0123456789abcdef01234567",
		source:   "https://github.com/rgd-dev/rgd",
		licenses: "Apache-2.0",
		created:  time.Unix(1700000000, 0).UTC(),
	}
}

// fakeBinaries stand in for the compiled rgd: each platform's bytes name it.
func fakeBinaries() []platformBinary {
	return []platformBinary{
		{platform: amd64, binary: []byte("rgd for linux/amd64")},
		{platform: arm64, binary: []byte("rgd for linux/arm64")},
	}
}

func TestNewIndex(t *testing.T) {
	m := testMeta()
	idx, err := newIndex(m, fakeBinaries())
	require.NoError(t, err)
	checkIndex(t, idx, m, map[string]string{
		"linux/amd64": "rgd for linux/amd64",
		"linux/arm64": "rgd for linux/arm64",
	})

	again, err := newIndex(m, fakeBinaries())
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, idx), digestOf(t, again), "the same binaries and meta give the same index")

	m.created = m.created.Add(time.Second)
	later, err := newIndex(m, fakeBinaries())
	require.NoError(t, err)
	assert.NotEqual(t, digestOf(t, idx), digestOf(t, later), "the created time is in the image")

	_, err = newIndex(m, nil)
	require.Error(t, err)
}

// checkIndex asserts that idx is an OCI index of one image per platform,
// each running /rgd as nonroot and labelled from m, with one layer whose /rgd
// holds binaries[platform]. It returns each platform's /rgd.
func checkIndex(t *testing.T, idx v1.ImageIndex, m meta, binaries map[string]string) map[string][]byte {
	t.Helper()
	mt, err := idx.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCIImageIndex, mt)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Equal(t, m.annotations(), im.Annotations, "index annotations")
	require.Len(t, im.Manifests, len(binaries))

	out := map[string][]byte{}
	for _, d := range im.Manifests {
		require.NotNil(t, d.Platform)
		p := d.Platform.String()
		require.Contains(t, binaries, p)
		assert.Equal(t, types.OCIManifestSchema1, d.MediaType, p)
		assert.Empty(t, d.ArtifactType, "%s: an image, not an artifact", p)
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		checkImage(t, img, m, *d.Platform)
		out[p] = binaryOf(t, img)
		if binaries[p] != "" {
			assert.Equal(t, binaries[p], string(out[p]), p)
		}
	}
	return out
}

// checkImage asserts img's manifest and config.
func checkImage(t *testing.T, img v1.Image, m meta, p v1.Platform) {
	t.Helper()
	mf, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, types.OCIManifestSchema1, mf.MediaType, p.String())
	assert.Equal(t, types.OCIConfigJSON, mf.Config.MediaType, p.String())
	assert.Equal(t, m.annotations(), mf.Annotations, "%s: manifest annotations", p)
	require.Len(t, mf.Layers, 1, "%s: one layer", p)
	assert.Equal(t, types.OCILayer, mf.Layers[0].MediaType, p.String())

	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, p.OS, cf.OS)
	assert.Equal(t, p.Architecture, cf.Architecture)
	assert.Equal(t, "65532:65532", cf.Config.User, p.String())
	assert.Equal(t, []string{"/rgd"}, cf.Config.Entrypoint, p.String())
	assert.Equal(t, []string{"controller"}, cf.Config.Cmd, p.String())
	assert.Equal(t, "/", cf.Config.WorkingDir, p.String())
	assert.Equal(t, m.created, cf.Created.UTC(), p.String())
	labels := map[string]string{
		"org.opencontainers.image.version":     m.version,
		"org.opencontainers.image.revision":    m.revision,
		"org.opencontainers.image.source":      m.source,
		"org.opencontainers.image.title":       "rgd",
		"org.opencontainers.image.description": "rgd, an engine for ResourceGraphDefinitions",
		"org.opencontainers.image.licenses":    m.licenses,
	}
	if m.licenses == "" {
		delete(labels, "org.opencontainers.image.licenses")
	}
	assert.Equal(t, labels, cf.Config.Labels, p.String())
	require.Len(t, cf.History, 1, p.String())
	assert.Equal(t, m.created, cf.History[0].Created.UTC(), p.String())
	require.Len(t, cf.RootFS.DiffIDs, 1, p.String())
	diffID, err := img.LayerByDigest(mf.Layers[0].Digest)
	require.NoError(t, err)
	got, err := diffID.DiffID()
	require.NoError(t, err)
	assert.Equal(t, cf.RootFS.DiffIDs[0], got, p.String())
}

// binaryOf is the /rgd of img's only layer, checked to be root's and
// executable.
func binaryOf(t *testing.T, img v1.Image) []byte {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer func() { _ = rc.Close() }()
	for _, e := range readTar(t, rc) {
		if e.header.Name == "rgd" {
			assert.Equal(t, int64(0o755), e.header.Mode, "/rgd's mode")
			assert.Equal(t, 0, e.header.Uid, "/rgd's owner")
			assert.Equal(t, 0, e.header.Gid, "/rgd's group")
			return e.body
		}
	}
	t.Fatal("no /rgd in the layer")
	return nil
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	require.NoError(t, err)
	return h
}

func TestWriteLayoutAndArchive(t *testing.T) {
	m := testMeta()
	idx, err := newIndex(m, fakeBinaries())
	require.NoError(t, err)
	dir := t.TempDir()
	layoutDir, archive := filepath.Join(dir, "image"), filepath.Join(dir, "rgd-image.tar")
	tag, err := name.NewTag("example.com/team/rgd:v0.1.0")
	require.NoError(t, err)

	// Twice: the second replaces the first instead of adding to index.json.
	require.NoError(t, writeLayout(layoutDir, idx, tag))
	require.NoError(t, writeLayout(layoutDir, idx, tag))
	back, err := readIndex(layoutDir)
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, idx), digestOf(t, back))
	checkIndex(t, back, m, map[string]string{"linux/amd64": "rgd for linux/amd64", "linux/arm64": "rgd for linux/arm64"})
	top, err := layout.ImageIndexFromPath(layoutDir)
	require.NoError(t, err)
	topManifest, err := top.IndexManifest()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"io.containerd.image.name":          "example.com/team/rgd:v0.1.0",
		"org.opencontainers.image.ref.name": "v0.1.0",
	}, topManifest.Manifests[0].Annotations)

	loadImg, err := imageFor(idx, arm64)
	require.NoError(t, err)
	require.NoError(t, writeArchive(archive, layoutDir, loadImg, tag.String(), m.created))
	checkArchive(t, archive, tag, loadImg, digestOf(t, idx))

	// The archive depends on its inputs only.
	first, err := os.ReadFile(archive)
	require.NoError(t, err)
	require.NoError(t, writeArchive(archive, layoutDir, loadImg, tag.String(), m.created))
	second, err := os.ReadFile(archive)
	require.NoError(t, err)
	assert.Equal(t, first, second)
}

// checkArchive reads archive both ways: as `docker load` does
// (manifest.json: the image want, named tag) and as podman and containerd do
// (the OCI layout: the index whose digest is index).
func checkArchive(t *testing.T, archive string, tag name.Tag, want v1.Image, index v1.Hash) {
	t.Helper()
	docker, err := tarball.ImageFromPath(archive, &tag)
	require.NoError(t, err, "manifest.json")
	wantConfig, err := want.ConfigName()
	require.NoError(t, err)
	gotConfig, err := docker.ConfigName()
	require.NoError(t, err)
	assert.Equal(t, wantConfig, gotConfig, "manifest.json's config")
	wantLayers, err := want.Layers()
	require.NoError(t, err)
	gotLayers, err := docker.Layers()
	require.NoError(t, err)
	require.Len(t, gotLayers, 1)
	assert.Equal(t, digestOf(t, wantLayers[0]), digestOf(t, gotLayers[0]), "manifest.json's layer")

	f, err := os.Open(archive)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	extracted := t.TempDir()
	var names []string
	for _, e := range readTar(t, f) {
		names = append(names, e.header.Name)
		assert.Equal(t, 0, e.header.Uid, e.header.Name)
		p := filepath.Join(extracted, filepath.FromSlash(e.header.Name))
		if e.header.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		require.NoError(t, os.WriteFile(p, e.body, 0o644))
	}
	assert.IsIncreasing(t, names, "entries sorted")
	assert.Contains(t, names, "oci-layout")
	assert.Contains(t, names, "index.json")
	assert.Contains(t, names, "manifest.json")
	oci, err := readIndex(extracted)
	require.NoError(t, err, "the OCI layout in the archive")
	assert.Equal(t, index, digestOf(t, oci))
}
