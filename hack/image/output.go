package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The annotations that name an image in an OCI layout's index.json:
// containerd, Docker 25+ and podman read the first, the OCI spec defines the
// second (the tag only, as `docker save` and BuildKit write it).
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// refAnnotations name tag in index.json.
func refAnnotations(tag name.Tag) map[string]string {
	repo := tag.Context()
	registry := repo.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io" // how containerd spells Docker Hub
	}
	return map[string]string{
		annotationContainerdName: registry + "/" + repo.RepositoryStr() + ":" + tag.TagStr(),
		annotationRefName:        tag.TagStr(),
	}
}

// writeLayout writes idx as the only entry of a new OCI image layout at dir,
// named tag, replacing whatever was there (layout.Write would add to an
// existing index.json).
func writeLayout(dir string, idx v1.ImageIndex, tag name.Tag) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	top := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add:        idx,
		Descriptor: v1.Descriptor{Annotations: refAnnotations(tag)},
	})
	if _, err := layout.Write(tmp, top); err != nil {
		return fmt.Errorf("writing the OCI layout %s: %w", tmp, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// writeArchive writes the layout at dir, and a docker manifest.json naming
// the image of one platform with tag, into one tar at file: the layout of
// `docker save` since Docker 25 and of BuildKit's docker exporter. Docker
// reads manifest.json (every version); podman and containerd read
// index.json and pick their platform from the index. Entries are sorted and
// dated mtime, owned by root.
func writeArchive(file, dir string, load v1.Image, tag string, mtime time.Time) error {
	manifest, err := dockerManifest(load, tag)
	if err != nil {
		return err
	}
	var names []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return fmt.Errorf("listing the layout %s: %w", dir, err)
	}
	names = append(names, "manifest.json")
	slices.Sort(names)

	tmp := file + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }()
	tw := tar.NewWriter(f)
	for _, n := range names {
		if err := addArchiveEntry(tw, dir, n, manifest, mtime); err != nil {
			_ = f.Close()
			return fmt.Errorf("writing %s into %s: %w", n, file, err)
		}
	}
	if err := tw.Close(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// addArchiveEntry writes one entry: a directory, manifest.json, or a file of
// the layout.
func addArchiveEntry(tw *tar.Writer, dir, entry string, manifest []byte, mtime time.Time) error {
	h := &tar.Header{Name: entry, ModTime: mtime.Truncate(time.Second), Format: tar.FormatUSTAR}
	switch {
	case entry[len(entry)-1] == '/':
		h.Typeflag, h.Mode = tar.TypeDir, 0o755
		return tw.WriteHeader(h)
	case entry == "manifest.json":
		h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(manifest))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(manifest)
		return err
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(entry)))
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// dockerManifest is the manifest.json of `docker load`: img's config and
// layers, by their paths in the layout's blobs/.
func dockerManifest(img v1.Image, tag string) ([]byte, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	blob := func(h v1.Hash) string { return path.Join("blobs", h.Algorithm, h.Hex) }
	d := tarball.Descriptor{Config: blob(m.Config.Digest), RepoTags: []string{tag}}
	for _, l := range m.Layers {
		d.Layers = append(d.Layers, blob(l.Digest))
	}
	return json.Marshal(tarball.Manifest{d})
}
