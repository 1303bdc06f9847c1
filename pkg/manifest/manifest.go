package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// Document is one object read from a file.
type Document struct {
	// Source names the file and the document's position, e.g. rgd.yaml#2.
	Source string
	// JSON is the document as JSON.
	JSON []byte
	// Object is the document as an unstructured object.
	Object *unstructured.Unstructured
}

// ReadFile reads every non-empty document of a YAML or JSON file.
func ReadFile(path string) ([]Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads every non-empty document of a YAML or JSON stream; name is used
// in errors and in each Document's Source.
func Read(r io.Reader, name string) ([]Document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []Document
	for i := 1; ; i++ {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if len(bytes.TrimSpace(stripComments(chunk))) == 0 {
			continue
		}
		raw, err := utilyaml.ToJSON(chunk)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if string(raw) == "null" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		source := name
		if i > 1 || len(docs) > 0 {
			source = fmt.Sprintf("%s#%d", name, i)
		}
		docs = append(docs, Document{Source: source, JSON: raw, Object: obj})
	}
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// IsRGD reports whether a document is a kro.run ResourceGraphDefinition.
func (d Document) IsRGD() bool {
	gvk := d.Object.GroupVersionKind()
	return gvk.Group == v1alpha1.GroupName && gvk.Kind == v1alpha1.ResourceGraphDefinitionKind.Kind
}

// RGD decodes the document strictly as a ResourceGraphDefinition. A
// document that does not decode gives a *DecodeError naming the RGD and every
// offending field: unknown fields (field names are case-sensitive) and values
// of the wrong type.
func (d Document) RGD() (*v1alpha1.ResourceGraphDefinition, error) {
	if !d.IsRGD() {
		return nil, fmt.Errorf("%s: %s is not a ResourceGraphDefinition", d.Source, d.Object.GroupVersionKind())
	}
	if v := d.Object.GetAPIVersion(); v != v1alpha1.SchemeGroupVersion.String() {
		return nil, &DecodeError{RGD: d.Object.GetName(), Fields: []FieldError{{
			Field:   "apiVersion",
			Message: fmt.Sprintf("%q is not supported, expected %s", v, v1alpha1.SchemeGroupVersion),
		}}}
	}
	return DecodeRGD(d.JSON)
}

// DecodeRGD decodes JSON strictly into a ResourceGraphDefinition; see
// Document.RGD for the errors.
func DecodeRGD(raw []byte) (*v1alpha1.ResourceGraphDefinition, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding ResourceGraphDefinition: %w", err)
	}
	name := ""
	if obj, ok := doc.(map[string]any); ok {
		if md, ok := obj["metadata"].(map[string]any); ok {
			name, _ = md["name"].(string)
		}
	}
	var problems []FieldError
	checkFields(nil, doc, reflect.TypeFor[v1alpha1.ResourceGraphDefinition](), &problems)
	if len(problems) > 0 {
		return nil, &DecodeError{RGD: name, Fields: problems}
	}
	rgd := &v1alpha1.ResourceGraphDefinition{}
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(rgd); err != nil {
		// Only a type with its own decoder gets here (a malformed timestamp).
		return nil, &DecodeError{RGD: name, Fields: []FieldError{{Message: strings.TrimPrefix(err.Error(), "json: ")}}}
	}
	return rgd, nil
}
