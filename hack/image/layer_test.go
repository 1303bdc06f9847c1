package main

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tarEntry is what a test reads back of one tar entry.
type tarEntry struct {
	header tar.Header
	body   []byte
}

// readTar reads every entry of a tar stream, in order.
func readTar(t *testing.T, r io.Reader) []tarEntry {
	t.Helper()
	tr := tar.NewReader(r)
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		out = append(out, tarEntry{header: *h, body: body})
	}
}

func TestRootfsTar(t *testing.T) {
	mtime := time.Unix(1700000000, 500).UTC()
	b, err := rootfsTar(rootfsEntries([]byte("binary")), mtime)
	require.NoError(t, err)
	entries := readTar(t, bytes.NewReader(b))

	type want struct {
		name     string
		typeflag byte
		mode     int64
		uid, gid int
	}
	var got []want
	for _, e := range entries {
		got = append(got, want{e.header.Name, e.header.Typeflag, e.header.Mode, e.header.Uid, e.header.Gid})
		assert.Equal(t, time.Unix(1700000000, 0).UTC(), e.header.ModTime.UTC(), "%s: the mtime, to the second", e.header.Name)
		assert.Empty(t, e.header.Uname, e.header.Name)
		assert.Empty(t, e.header.Gname, e.header.Name)
		assert.Equal(t, tar.FormatUSTAR, e.header.Format, e.header.Name)
	}
	assert.Equal(t, []want{
		{"etc/", tar.TypeDir, 0o755, 0, 0},
		{"etc/group", tar.TypeReg, 0o644, 0, 0},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0},
		{"home/", tar.TypeDir, 0o755, 0, 0},
		{"home/nonroot/", tar.TypeDir, 0o700, 65532, 65532},
		{"rgd", tar.TypeReg, 0o755, 0, 0},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0},
	}, got)
	assert.Equal(t, "binary", string(entries[5].body))
	assert.Contains(t, string(entries[2].body), "nonroot:x:65532:65532:")
	assert.Contains(t, string(entries[1].body), "nonroot:x:65532:")

	again, err := rootfsTar(rootfsEntries([]byte("binary")), mtime)
	require.NoError(t, err)
	assert.Equal(t, b, again, "the same inputs give the same bytes")
}

func TestBlobLayer(t *testing.T) {
	b, err := rootfsTar(rootfsEntries(bytes.Repeat([]byte("rgd"), 1000)), time.Unix(1700000000, 0))
	require.NoError(t, err)
	l, err := newBlobLayer(b)
	require.NoError(t, err)

	rc, err := l.Uncompressed()
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, b, got)

	size, err := l.Size()
	require.NoError(t, err)
	assert.Less(t, size, int64(len(b)), "compressed")
	assert.Equal(t, byte(0x1f), l.compressed[0], "gzip magic")

	again, err := newBlobLayer(b)
	require.NoError(t, err)
	d1, _ := l.Digest()
	d2, _ := again.Digest()
	assert.Equal(t, d1, d2, "gzip output depends on the input only")
	diffID, _ := l.DiffID()
	assert.NotEqual(t, d1, diffID)
}
