package builtin

import (
	"embed"
	"fmt"
	"io/fs"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

//go:embed data
var embedded embed.FS

// Source reads captured group-versions from a file system laid out like
// data/: a manifest plus one gzip file per group-version.
type Source struct {
	fsys     fs.FS
	manifest *Manifest
	files    map[string]string // group-version -> file
}

// Open reads the manifest of a data directory. Group-version files are only
// read by Load.
func Open(fsys fs.FS) (*Source, error) {
	raw, err := fs.ReadFile(fsys, ManifestFile)
	if err != nil {
		return nil, err
	}
	m, err := DecodeManifest(raw)
	if err != nil {
		return nil, err
	}
	s := &Source{fsys: fsys, manifest: m, files: make(map[string]string, len(m.GroupVersions))}
	for _, e := range m.GroupVersions {
		s.files[e.GroupVersion] = e.File
	}
	return s, nil
}

var embeddedSource = sync.OnceValues(func() (*Source, error) {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		return nil, err
	}
	return Open(sub)
})

// Embedded returns the Source of the data embedded in the binary. Only the
// manifest is read; it is read once.
func Embedded() (*Source, error) { return embeddedSource() }

// FS returns the embedded data directory (manifest and gzip files).
func FS() fs.FS {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		panic(err) // "data" is a valid, embedded path: cannot happen
	}
	return sub
}

// Manifest returns a copy of the manifest.
func (s *Source) Manifest() Manifest {
	m := *s.manifest
	m.GroupVersions = append([]ManifestEntry(nil), s.manifest.GroupVersions...)
	return m
}

// Has reports whether the capture holds the group-version.
func (s *Source) Has(gv schema.GroupVersion) bool {
	_, ok := s.files[gv.String()]
	return ok
}

// Load decompresses and decodes one group-version. It returns an error
// wrapping fs.ErrNotExist when the capture does not hold it. Nothing is
// cached here: callers keep what they need.
func (s *Source) Load(gv schema.GroupVersion) (*GroupVersionData, error) {
	file, ok := s.files[gv.String()]
	if !ok {
		return nil, fmt.Errorf("group-version %q is not built in: %w", gv.String(), fs.ErrNotExist)
	}
	gz, err := fs.ReadFile(s.fsys, file)
	if err != nil {
		return nil, fmt.Errorf("reading built-in %s: %w", gv.String(), err)
	}
	d, err := Decode(gz)
	if err != nil {
		return nil, fmt.Errorf("built-in %s (%s): %w", gv.String(), file, err)
	}
	if d.GroupVersion != gv.String() {
		return nil, fmt.Errorf("built-in %s: file %s holds %q", gv.String(), file, d.GroupVersion)
	}
	return d, nil
}
