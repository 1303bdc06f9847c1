package builtin

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ManifestFile is the name of the manifest inside the data directory.
const ManifestFile = "manifest.json"

// Manifest describes one capture: the Kubernetes version it came from and the
// file that holds each group-version.
type Manifest struct {
	// KubernetesVersion is the gitVersion the API server reported at /version.
	KubernetesVersion string `json:"kubernetesVersion"`
	// Descriptions tells whether schema descriptions were kept.
	Descriptions bool `json:"descriptions"`
	// GroupVersions lists every captured group-version, sorted by GroupVersion.
	GroupVersions []ManifestEntry `json:"groupVersions"`
}

// ManifestEntry points at the file that holds one group-version.
type ManifestEntry struct {
	// GroupVersion is "v1" for the core group or "<group>/<version>".
	GroupVersion string `json:"groupVersion"`
	// File is the name of the gzip file inside the data directory.
	File string `json:"file"`
}

// Resource is the REST mapping of one kind, as discovery reports it
// (subresources are left out).
type Resource struct {
	// Name is the plural resource name, e.g. "deployments".
	Name string `json:"name"`
	// Kind is the kind served by the resource, e.g. "Deployment".
	Kind string `json:"kind"`
	// Namespaced is true for namespace-scoped resources.
	Namespaced bool `json:"namespaced"`
}

// GroupVersionData is the content of one group-version file: its REST
// mapping and the components of its OpenAPI v3 document (paths are dropped:
// only the schemas are needed).
type GroupVersionData struct {
	// GroupVersion is "v1" for the core group or "<group>/<version>".
	GroupVersion string `json:"groupVersion"`
	// Resources is the REST mapping, sorted by Name.
	Resources []Resource `json:"resources"`
	// OpenAPI is the OpenAPI v3 document reduced to {"components": {"schemas": ...}}.
	OpenAPI json.RawMessage `json:"openapi"`
}

// FileName is the data file name used for a group-version, e.g.
// "core_v1.json.gz" or "apps_v1.json.gz".
func FileName(gv schema.GroupVersion) string {
	group := gv.Group
	if group == "" {
		group = "core"
	}
	return group + "_" + gv.Version + ".json.gz"
}

// ReduceOpenAPI keeps only components.schemas of an OpenAPI v3 document and,
// unless keepDescriptions, removes every "description" from the schemas. The
// output is canonical JSON (sorted keys), so equal input gives equal bytes.
func ReduceOpenAPI(doc []byte, keepDescriptions bool) (json.RawMessage, error) {
	var full struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &full); err != nil {
		return nil, fmt.Errorf("decoding OpenAPI v3 document: %w", err)
	}
	if full.Components.Schemas == nil {
		return nil, fmt.Errorf("OpenAPI v3 document has no components.schemas")
	}
	if !keepDescriptions {
		for _, s := range full.Components.Schemas {
			stripDescriptions(s)
		}
	}
	reduced := map[string]any{"components": map[string]any{"schemas": full.Components.Schemas}}
	return json.Marshal(reduced)
}

// stripDescriptions removes "description" keys from a schema tree. Property
// maps are walked as maps of schemas, so a property that is itself named
// "description" is kept.
func stripDescriptions(v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	delete(m, "description")
	for key, child := range m {
		switch key {
		case "properties", "patternProperties", "definitions":
			if props, ok := child.(map[string]any); ok {
				for _, p := range props {
					stripDescriptions(p)
				}
			}
		case "items", "additionalProperties", "not":
			stripDescriptions(child)
		case "allOf", "anyOf", "oneOf":
			if list, ok := child.([]any); ok {
				for _, s := range list {
					stripDescriptions(s)
				}
			}
		}
	}
}

// Encode writes one group-version as gzip-compressed JSON. The output is
// deterministic: resources are sorted and the gzip header carries no time.
func Encode(d *GroupVersionData) ([]byte, error) {
	sorted := *d
	sorted.Resources = append([]Resource(nil), d.Resources...)
	sort.Slice(sorted.Resources, func(i, j int) bool {
		if sorted.Resources[i].Name != sorted.Resources[j].Name {
			return sorted.Resources[i].Name < sorted.Resources[j].Name
		}
		return sorted.Resources[i].Kind < sorted.Resources[j].Kind
	})
	raw, err := json.Marshal(&sorted)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", d.GroupVersion, err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads one group-version file written by Encode.
func Decode(gz []byte) (*GroupVersionData, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	d := &GroupVersionData{}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return d, nil
}

// EncodeManifest writes the manifest as indented JSON with a final newline,
// group-versions sorted.
func EncodeManifest(m *Manifest) ([]byte, error) {
	sorted := *m
	sorted.GroupVersions = append([]ManifestEntry(nil), m.GroupVersions...)
	sort.Slice(sorted.GroupVersions, func(i, j int) bool {
		return sorted.GroupVersions[i].GroupVersion < sorted.GroupVersions[j].GroupVersion
	})
	raw, err := json.MarshalIndent(&sorted, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
}

// DecodeManifest reads a manifest written by EncodeManifest and checks that
// every entry names a group-version and a file.
func DecodeManifest(raw []byte) (*Manifest, error) {
	m := &Manifest{}
	if err := json.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", ManifestFile, err)
	}
	for i, e := range m.GroupVersions {
		if e.GroupVersion == "" || e.File == "" || strings.ContainsAny(e.File, "/\\") {
			return nil, fmt.Errorf("%s: groupVersions[%d]: needs a groupVersion and a plain file name, got %+v", ManifestFile, i, e)
		}
	}
	return m, nil
}
