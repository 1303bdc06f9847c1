package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the engine runs as: distroless's nonroot, which
// charts/rgd/templates/deployment.yaml's runAsNonRoot accepts.
const (
	nonRootUID  = 65532
	nonRootName = "nonroot"
	binaryName  = "rgd" // at the root: /rgd
)

// rootfsEntry is one file or directory of the image's only layer.
type rootfsEntry struct {
	name     string // relative to /, directories ending in /
	mode     int64
	uid, gid int
	body     []byte // nil for a directory
}

// rootfsEntries lists the layer's entries in the order they are written,
// sorted by name: the binary, just enough of /etc for the nonroot user to
// have a name and a home, and a /tmp.
func rootfsEntries(binary []byte) []rootfsEntry {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	return []rootfsEntry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: nonRootUID, gid: nonRootUID},
		{name: binaryName, mode: 0o755, body: binary},
		{name: "tmp/", mode: 0o1777},
	}
}

// rootfsTar writes entries as an uncompressed tar in which nothing but the
// entries and mtime varies: ustar headers, no user or group names, no access
// or change times.
func rootfsTar(entries []rootfsEntry, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:     e.name,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  mtime.Truncate(time.Second),
			Typeflag: tar.TypeReg,
			Size:     int64(len(e.body)),
			Format:   tar.FormatUSTAR,
		}
		if e.body == nil {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blobLayer is a gzip-compressed layer held in memory, compressed once: its
// digests are computed when it is made.
type blobLayer struct {
	uncompressed, compressed []byte
	diffID, digest           v1.Hash
}

var _ v1.Layer = (*blobLayer)(nil)

// newBlobLayer compresses tarball with gzip at BestSpeed (go-containerregistry's
// and ko's default: about 15% larger than the default level, three times
// faster) and a header with no name and no time.
func newBlobLayer(tarball []byte) (*blobLayer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(tarball); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	l := &blobLayer{uncompressed: tarball, compressed: buf.Bytes()}
	if l.diffID, _, err = v1.SHA256(bytes.NewReader(l.uncompressed)); err != nil {
		return nil, err
	}
	if l.digest, _, err = v1.SHA256(bytes.NewReader(l.compressed)); err != nil {
		return nil, err
	}
	return l, nil
}

// Digest is the sha256 of the compressed layer.
func (l *blobLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID is the sha256 of the uncompressed tar.
func (l *blobLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Compressed reads the gzip stream.
func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}

// Uncompressed reads the tar.
func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.uncompressed)), nil
}

// Size is the compressed size.
func (l *blobLayer) Size() (int64, error) { return int64(len(l.compressed)), nil }

// MediaType is the OCI gzip layer type.
func (l *blobLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
