package simpleschema

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/simple"
	"gonum.org/v1/gonum/graph/topo"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxSchemaNodes bounds the size of the produced schema, so that custom types that
// use each other many times over cannot expand into an enormous schema.
const MaxSchemaNodes = 100000

// Options set the field paths used in errors.
type Options struct {
	// SpecPath names spec.schema.spec; default field.NewPath("spec", "schema", "spec").
	SpecPath *field.Path
	// TypesPath names spec.schema.types; default field.NewPath("spec", "schema", "types").
	TypesPath *field.Path
}

// ToOpenAPI converts the RGD's spec.schema.spec (decoded from YAML/JSON into
// map[string]any) and spec.schema.types into the OpenAPI schema of the instance's
// `spec` (type object). It returns every problem found; the schema is nil when there
// are any. A nil spec gives an empty object schema.
func ToOpenAPI(spec map[string]any, types map[string]any, opts Options) (*apiextensionsv1.JSONSchemaProps, field.ErrorList) {
	if opts.SpecPath == nil {
		opts.SpecPath = field.NewPath("spec", "schema", "spec")
	}
	if opts.TypesPath == nil {
		opts.TypesPath = field.NewPath("spec", "schema", "types")
	}
	b := &builder{types: map[string]*customType{}}
	b.buildTypes(types, opts.TypesPath)
	root, _ := b.buildStruct(opts.SpecPath, spec)
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return root, nil
}

// customType is a built entry of spec.schema.types.
type customType struct {
	schema   *apiextensionsv1.JSONSchemaProps
	required bool // an alias with required=true
	failed   bool // errors were reported; users of the type stay silent
	size     int  // number of schema nodes
}

type builder struct {
	types    map[string]*customType
	errs     field.ErrorList
	nodes    int
	tooLarge bool
}

// buildTypes builds every custom type, dependencies first.
func (b *builder) buildTypes(types map[string]any, path *field.Path) {
	if len(types) == 0 {
		return
	}
	names := slices.Sorted(maps.Keys(types))
	for _, name := range names {
		b.types[name] = &customType{}
	}
	g := b.dependencyGraph(types, names, path)
	order, err := topo.SortStabilized(g, sortByID)
	b.reportCycles(err, names, path)
	for _, n := range order {
		if n == nil {
			continue
		}
		name := names[n.ID()]
		if ct := b.types[name]; !ct.failed {
			b.buildType(path.Child(name), ct, types[name])
		}
	}
}

// sortByID orders graph nodes by ID, for a deterministic topological order.
func sortByID(nodes []graph.Node) {
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID() < nodes[j].ID() })
}

// dependencyGraph returns the graph of the custom types names (sorted, node
// IDs are their indexes) with an edge dep -> user, so that a topological
// order lists dependencies first. It reports invalid type names and types
// that use themselves, marking them failed.
func (b *builder) dependencyGraph(types map[string]any, names []string, path *field.Path) *simple.DirectedGraph {
	id := make(map[string]int64, len(names))
	g := simple.NewDirectedGraph()
	for i, name := range names {
		id[name] = int64(i)
		g.AddNode(simple.Node(i))
	}
	for _, name := range names {
		if msg := invalidTypeName(name); msg != "" {
			b.errs = append(b.errs, field.Invalid(path.Child(name), name, msg))
			b.types[name].failed = true
			continue
		}
		for _, dep := range typeDeps(types[name]) {
			if _, ok := b.types[dep]; !ok || builtinTypes[dep] {
				continue
			}
			if dep == name {
				b.errs = append(b.errs, field.Invalid(path.Child(name), field.OmitValueType{},
					fmt.Sprintf("cyclic dependency in type %s: the type uses itself", name)))
				b.types[name].failed = true
				continue
			}
			g.SetEdge(g.NewEdge(simple.Node(id[dep]), simple.Node(id[name])))
		}
	}
	return g
}

// reportCycles reports each dependency cycle found by the topological sort
// (err), at its first member by name, and marks every member failed.
func (b *builder) reportCycles(err error, names []string, path *field.Path) {
	var cycles topo.Unorderable
	if !errors.As(err, &cycles) {
		return
	}
	for _, cycle := range cycles {
		sortByID(cycle)
		members := make([]string, len(cycle))
		for i, n := range cycle {
			members[i] = names[n.ID()]
			b.types[members[i]].failed = true
		}
		b.errs = append(b.errs, field.Invalid(path.Child(members[0]), field.OmitValueType{},
			fmt.Sprintf("cyclic dependency in type %s: graph contains a cycle among types %s", members[0], strings.Join(members, ", "))))
	}
}

// buildType builds the custom type ct at path from its definition: a field
// definition string (an alias) or a map of fields. ct is marked failed when
// any error is reported for it; otherwise its size is recorded.
func (b *builder) buildType(p *field.Path, ct *customType, def any) {
	before := len(b.errs)
	switch def := def.(type) {
	case string:
		s, required, ok := b.buildField(p, def)
		ct.schema, ct.required, ct.failed = s, required, !ok
	case map[string]any:
		s, ok := b.buildStruct(p, def)
		ct.schema, ct.failed = s, !ok
	default:
		b.errs = append(b.errs, invalidDefinition(p, def))
		ct.failed = true
	}
	if len(b.errs) > before {
		ct.failed = true
	}
	if !ct.failed {
		ct.size = countNodes(ct.schema)
	}
}

// invalidTypeName explains why a custom type name cannot be used, or returns "".
func invalidTypeName(name string) string {
	switch {
	case builtinTypes[name]:
		return fmt.Sprintf("type name %q is a built-in type", name)
	case name == "":
		return "type name must not be empty"
	}
	if _, err := parseType(name); err != nil || strings.HasPrefix(name, "[]") || strings.HasPrefix(name, "map[") {
		return "type name must be a plain name without brackets, spaces, quotes or '|'"
	}
	return ""
}

// typeDeps lists the base type names used by a custom type definition.
func typeDeps(def any) []string {
	var deps []string
	var walk func(v any)
	walk = func(v any) {
		switch d := v.(type) {
		case string:
			f, _ := ParseField(d)
			if e, err := parseType(f.Type); err == nil {
				deps = append(deps, e.baseName())
			}
		case map[string]any:
			for _, child := range d {
				walk(child)
			}
		}
	}
	walk(def)
	sort.Strings(deps)
	return deps
}

func invalidDefinition(path *field.Path, v any) *field.Error {
	return field.Invalid(path, field.OmitValueType{},
		fmt.Sprintf("must be a string (a field definition such as \"string | required=true\") or a map of fields, not %s", describe(v)))
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case float64, float32, int, int64, int32, uint64:
		return fmt.Sprintf("the number %v", v)
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("a value of type %T", v)
	}
}

// buildStruct builds an object schema from a map of field name to definition.
// It returns false when an error was reported for it.
func (b *builder) buildStruct(path *field.Path, fields map[string]any) (*apiextensionsv1.JSONSchemaProps, bool) {
	b.nodes++
	s := &apiextensionsv1.JSONSchemaProps{Type: "object"}
	ok := true
	hasDefault := false
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		p := path.Child(k)
		if k == "" {
			b.errs = append(b.errs, field.Invalid(p, k, "field name must not be empty"))
			ok = false
			continue
		}
		var (
			child    *apiextensionsv1.JSONSchemaProps
			required bool
			childOK  bool
		)
		switch def := fields[k].(type) {
		case string:
			child, required, childOK = b.buildField(p, def)
		case map[string]any:
			child, childOK = b.buildStruct(p, def)
		default:
			b.errs = append(b.errs, invalidDefinition(p, def))
		}
		if !childOK {
			ok = false
			continue
		}
		if s.Properties == nil {
			s.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
		}
		s.Properties[k] = *child
		if required {
			s.Required = append(s.Required, k) // keys are sorted, so Required is too
		}
		if child.Default != nil {
			hasDefault = true
		}
	}
	// Defaulting {} lets the API server apply the nested defaults when the object is
	// left out, which is only valid when nothing inside is required.
	if ok && hasDefault && len(s.Required) == 0 {
		s.Default = &apiextensionsv1.JSON{Raw: []byte("{}")}
	}
	return s, ok
}

// buildField builds the schema of one "<type> | markers" definition and tells whether
// the field is required.
func (b *builder) buildField(path *field.Path, def string) (*apiextensionsv1.JSONSchemaProps, bool, bool) {
	f, err := ParseField(def)
	ok := true
	if err != nil {
		for _, e := range unjoin(err) {
			b.errs = append(b.errs, field.Invalid(path, def, e.Error()))
		}
		ok = false
	}
	expr, err := parseType(f.Type)
	if err != nil {
		b.errs = append(b.errs, field.Invalid(path, def, err.Error()))
		return nil, false, false
	}
	s, aliasRequired, typeOK := b.schemaFor(path, def, expr)
	if !typeOK {
		return nil, false, false
	}
	res, errs := applyMarkers(path, def, f.Type, s, f.Markers)
	if len(errs) > 0 {
		b.errs = append(b.errs, errs...)
		ok = false
	}
	required := aliasRequired
	if res.required != nil {
		required = *res.required
	}
	return s, required, ok
}

// schemaFor returns a fresh schema for a type expression, and whether a custom alias
// at its top is marked required.
func (b *builder) schemaFor(path *field.Path, def string, e *typeExpr) (*apiextensionsv1.JSONSchemaProps, bool, bool) {
	b.nodes++
	switch e.kind {
	case exprArray, exprMap:
		elem, _, ok := b.schemaFor(path, def, e.elem)
		if !ok {
			return nil, false, false
		}
		if e.kind == exprArray {
			return &apiextensionsv1.JSONSchemaProps{Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: elem}}, false, true
		}
		return &apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: elem}}, false, true
	}
	switch e.name {
	case TypeString, TypeInteger, TypeBoolean:
		return &apiextensionsv1.JSONSchemaProps{Type: e.name}, false, true
	case TypeFloat:
		return &apiextensionsv1.JSONSchemaProps{Type: "number"}, false, true
	case TypeObject:
		return &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTrue()}, false, true
	}
	ct, found := b.types[e.name]
	if !found {
		msg := fmt.Sprintf("unknown type: %s", e.name)
		if e.name == "number" {
			msg += ` (use "float" for numbers)`
		}
		b.errs = append(b.errs, field.Invalid(path, def, msg))
		return nil, false, false
	}
	if ct.failed || ct.schema == nil {
		return nil, false, false // already reported where the type is defined
	}
	if b.nodes+ct.size > MaxSchemaNodes {
		if !b.tooLarge {
			b.errs = append(b.errs, field.Invalid(path, def,
				fmt.Sprintf("schema too large: expanding custom types gives more than %d nodes", MaxSchemaNodes)))
			b.tooLarge = true
		}
		return nil, false, false
	}
	b.nodes += ct.size
	return ct.schema.DeepCopy(), ct.required, true
}

func ptrTrue() *bool { t := true; return &t }

// countNodes counts the schema nodes of s.
func countNodes(s *apiextensionsv1.JSONSchemaProps) int {
	if s == nil {
		return 0
	}
	n := 1
	for _, p := range s.Properties {
		n += countNodes(&p)
	}
	if s.Items != nil {
		n += countNodes(s.Items.Schema)
	}
	if s.AdditionalProperties != nil {
		n += countNodes(s.AdditionalProperties.Schema)
	}
	return n
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
