package main

import (
	"fmt"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// What every image runs: /rgd as nonroot, `rgd controller` unless the pod
// passes other arguments (charts/rgd/templates/deployment.yaml passes `controller`
// and its flags as args, which replace Cmd and keep the Entrypoint).
var (
	entrypoint = []string{"/" + binaryName}
	defaultCmd = []string{"controller"}
	user       = strconv.Itoa(nonRootUID) + ":" + strconv.Itoa(nonRootUID)
)

// newIndex builds one image per binary, in parallel (compressing the layers
// is most of the work), and an OCI image index over them, in the binaries'
// order.
func newIndex(m meta, bins []platformBinary) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, fmt.Errorf("no binaries: expected one per platform")
	}
	images := make([]v1.Image, len(bins))
	var g errgroup.Group
	for i, b := range bins {
		g.Go(func() error {
			img, err := newImage(m, b)
			images[i] = img
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, b := range bins {
		p := b.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        plainImage{images[i]},
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	idx, ok := mutate.Annotations(idx, m.annotations()).(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("annotating the index: expected a v1.ImageIndex back")
	}
	return idx, nil
}

// plainImage is an image whose index descriptor has no artifactType:
// go-containerregistry gives every image one (its config's media type),
// a field the OCI spec meant for artifacts. Docker, BuildKit and podman write
// none for images: an index shaped like theirs is what every client expects.
type plainImage struct{ v1.Image }

// ArtifactType is empty: this is a container image.
func (plainImage) ArtifactType() (string, error) { return "", nil }

// newImage is the OCI image of one platform: no base, one layer, the config
// and history dated m.created.
func newImage(m meta, b platformBinary) (v1.Image, error) {
	tarball, err := rootfsTar(rootfsEntries(b.binary), m.created)
	if err != nil {
		return nil, fmt.Errorf("%s: writing the layer: %w", b.platform, err)
	}
	layer, err := newBlobLayer(tarball)
	if err != nil {
		return nil, fmt.Errorf("%s: compressing the layer: %w", b.platform, err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, configFile(m, b.platform))
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: m.created},
			CreatedBy: "hack/image: /rgd " + m.version + ", /etc/passwd, /etc/group, /home/nonroot, /tmp",
		},
	})
	if err != nil {
		return nil, err
	}
	img, ok := mutate.Annotations(img, m.annotations()).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("%s: annotating the image: expected a v1.Image back", b.platform)
	}
	return img, nil
}

// configFile is an image's config without its layers (mutate.Append adds
// their diff IDs and history).
func configFile(m meta, p v1.Platform) *v1.ConfigFile {
	return &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      v1.Time{Time: m.created},
		Config: v1.Config{
			User:       user,
			Entrypoint: entrypoint,
			Cmd:        defaultCmd,
			WorkingDir: "/",
			Labels:     m.labels(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
}
