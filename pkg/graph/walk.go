package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/template"
)

// site is a value in a template that holds expressions, with the schema the
// value must satisfy (nil when the location is schemaless).
type site struct {
	path     Path
	tmpl     template.Template
	schema   *spec.Schema
	resource string
}

// walker visits a template, checks its literal values against the kind's
// schema and collects the values that hold expressions.
type walker struct {
	errs       *errs
	resourceID string
	// fieldPrefix is the RGD path of the template, such as
	// spec.resources[3].template.
	fieldPrefix string
	sites       []site
	// exprAllowed, when set, restricts where expressions may appear.
	exprAllowed func(Path) bool
	// buffers hold the property schema being walked at each depth: a
	// property of a (shared, read-only) schema is a map value, so it is
	// copied into the buffer of its depth rather than onto the heap once
	// per field. Sites keep copies of their own.
	buffers []*spec.Schema
}

// scratch returns the buffer of a depth.
func (w *walker) scratch(depth int) *spec.Schema {
	for len(w.buffers) <= depth {
		w.buffers = append(w.buffers, new(spec.Schema))
	}
	return w.buffers[depth]
}

func (w *walker) field(p Path) string { return p.under(w.fieldPrefix) }

// walk checks v at path p against schema s. A nil s means schemaless: any
// value is accepted.
func (w *walker) walk(v any, p Path, s *spec.Schema) {
	switch val := v.(type) {
	case map[string]any:
		if s != nil && !schemaAllows(s, "object") {
			w.errs.add(w.resourceID, w.field(p), "", "expected %s, got an object", describeSchemaType(s))
			return
		}
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if strings.Contains(k, "${") {
				w.errs.add(w.resourceID, w.field(p.child(k)), "", "expressions are not allowed in map keys")
				continue
			}
			child, known := propertySchema(s, k, w.scratch(len(p)))
			if !known {
				w.errs.add(w.resourceID, w.field(p.child(k)), "", "unknown field %q; %s", k, knownFields(s))
				continue
			}
			w.walk(val[k], p.child(k), child)
		}
	case []any:
		if s != nil && !schemaAllows(s, "array") {
			w.errs.add(w.resourceID, w.field(p), "", "expected %s, got a list", describeSchemaType(s))
			return
		}
		var items *spec.Schema
		if s != nil && s.Items != nil && s.Items.Schema != nil {
			items = s.Items.Schema
		}
		for i, item := range val {
			w.walk(item, p.index(i), items)
		}
	case string:
		// A plain literal need not be parsed: template.Parse finds nothing
		// in a string without "${".
		if strings.Contains(val, "${") {
			tmpl, err := template.Parse(val)
			if err != nil {
				w.errs.add(w.resourceID, w.field(p), "", "%v", err)
				return
			}
			if tmpl.HasExpressions() {
				if w.exprAllowed != nil && !w.exprAllowed(p) {
					w.errs.add(w.resourceID, w.field(p), val, "expressions are not allowed here")
					return
				}
				w.sites = append(w.sites, site{path: p, tmpl: tmpl, schema: heapCopy(s), resource: w.resourceID})
				return
			}
		}
		if s != nil && !schemaAllows(s, "string") {
			w.errs.add(w.resourceID, w.field(p), "", "expected %s, got string %q", describeSchemaType(s), val)
		}
	case int64:
		if s != nil && !schemaAllows(s, "integer") && !schemaAllows(s, "number") {
			w.errs.add(w.resourceID, w.field(p), "", "expected %s, got integer %d", describeSchemaType(s), val)
		}
	case float64:
		if s != nil && !schemaAllows(s, "number") {
			w.errs.add(w.resourceID, w.field(p), "", "expected %s, got number %v", describeSchemaType(s), val)
		}
	case bool:
		if s != nil && !schemaAllows(s, "boolean") {
			w.errs.add(w.resourceID, w.field(p), "", "expected %s, got boolean %v", describeSchemaType(s), val)
		}
	case nil:
		// null clears a field; the API server decides whether it may.
	default:
		w.errs.add(w.resourceID, w.field(p), "", "unsupported value of type %T", v)
	}
}

// heapCopy returns a copy of s that outlives the walk (s may point to the
// walker's stack).
func heapCopy(s *spec.Schema) *spec.Schema {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

// schemaAllows reports whether a value of the given JSON type fits s.
func schemaAllows(s *spec.Schema, jsonType string) bool {
	if isSchemaless(s) || isIntOrString(s) && (jsonType == "string" || jsonType == "integer") {
		return true
	}
	if len(s.Type) == 0 {
		// No type: anyOf/oneOf/allOf or an untyped schema. Accept.
		return true
	}
	for _, t := range s.Type {
		if t == jsonType || t == "number" && jsonType == "integer" {
			return true
		}
	}
	return false
}

func describeSchemaType(s *spec.Schema) string {
	if isIntOrString(s) {
		return "integer or string"
	}
	if len(s.Type) == 0 {
		return "any value"
	}
	return strings.Join(s.Type, " or ")
}

// propertySchema returns the schema of key inside object schema s; nil with
// known=true means schemaless. A property is copied into buf (the caller's),
// so that looking it up allocates nothing.
func propertySchema(s *spec.Schema, key string, buf *spec.Schema) (child *spec.Schema, known bool) {
	if s == nil || isSchemaless(s) {
		return nil, true
	}
	if p, ok := s.Properties[key]; ok {
		*buf = p
		return buf, true
	}
	if s.AdditionalProperties != nil {
		if s.AdditionalProperties.Schema != nil {
			return s.AdditionalProperties.Schema, true
		}
		return nil, s.AdditionalProperties.Allows
	}
	if len(s.Properties) == 0 && (len(s.Type) == 0 || len(s.AnyOf)+len(s.OneOf)+len(s.AllOf) > 0) {
		return nil, true
	}
	return nil, false
}

func knownFields(s *spec.Schema) string {
	if s == nil || len(s.Properties) == 0 {
		return "the object has no fields"
	}
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	slices.Sort(names)
	if len(names) > 12 {
		return fmt.Sprintf("expected one of %s, ... (%d fields)", strings.Join(names[:12], ", "), len(names))
	}
	return "expected one of " + strings.Join(names, ", ")
}

func isSchemaless(s *spec.Schema) bool {
	if s == nil {
		return true
	}
	v, _ := s.Extensions["x-kubernetes-preserve-unknown-fields"].(bool)
	return v && len(s.Properties) == 0
}

func isIntOrString(s *spec.Schema) bool {
	if s == nil {
		return false
	}
	v, _ := s.Extensions["x-kubernetes-int-or-string"].(bool)
	return v
}

// decodeObject decodes JSON into plain Go values, keeping integers as int64
// and other numbers as float64, as unstructured objects hold them.
func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	m, ok := normalizeNumbers(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected an object, got %s", jsonKind(v))
	}
	return m, nil
}

func normalizeNumbers(v any) any {
	switch val := v.(type) {
	case map[string]any:
		for k, e := range val {
			val[k] = normalizeNumbers(e)
		}
		return val
	case []any:
		for i, e := range val {
			val[i] = normalizeNumbers(e)
		}
		return val
	case json.Number:
		if i, err := val.Int64(); err == nil {
			return i
		}
		f, err := val.Float64()
		if err != nil || math.IsInf(f, 0) {
			return val.String()
		}
		return f
	default:
		return v
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return "a number"
	}
}
