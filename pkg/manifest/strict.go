package manifest

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FieldError is one field of a document that does not fit the Go type it is
// decoded into.
type FieldError struct {
	// Field is the path of the field, such as spec.resources[1].tempalte.
	Field string
	// Message says what is wrong and what was expected.
	Message string
}

// Error formats the problem as "path: message".
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// DecodeError is every problem of a ResourceGraphDefinition that does not
// decode: each names the field and what was expected.
type DecodeError struct {
	// RGD is the metadata.name of the ResourceGraphDefinition, when it has
	// one.
	RGD string
	// Fields are the problems, in a stable order: the fields of an object
	// by name, the items of a list by index.
	Fields []FieldError
}

// Error lists the problems, one per line, each starting with the RGD's name.
func (e *DecodeError) Error() string {
	prefix := "rgd " + quote(e.RGD) + ": "
	if e.RGD == "" {
		prefix = "rgd without a name: "
	}
	lines := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		lines[i] = prefix + f.Error()
	}
	return strings.Join(lines, "\n")
}

// pathString is the path p, or "" for the root.
func pathString(p *field.Path) string {
	if p == nil {
		return ""
	}
	return p.String()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkFields compares a decoded JSON value (from a json.Decoder with
// UseNumber) with the Go type t it is to be decoded into, as encoding/json
// would but case-sensitively and without stopping at the first problem: every
// unknown field and every value of the wrong JSON type is reported with its
// path. Types that decode themselves (json.Unmarshaler) are left to their
// decoder.
func checkFields(path *field.Path, v any, t reflect.Type, errs *[]FieldError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return // null leaves the Go value alone
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		checkCustom(path, v, t, errs)
		return
	}
	want := jsonTypeOf(t)
	if want == "" {
		return // an interface: anything goes
	}
	if got := jsonTypeOfValue(v); got != want && (want != "number" || got != "integer") {
		*errs = append(*errs, FieldError{Field: pathString(path), Message: "expected " + describe(t) + ", got " + withArticle(got)})
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj := v.(map[string]any)
		fields := jsonFields(t)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Field: path.Child(k).String(), Message: unknownField(k, fieldNames(t))})
				continue
			}
			checkFields(path.Child(k), obj[k], ft, errs)
		}
	case reflect.Map:
		obj := v.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			checkFields(path.Key(k), obj[k], t.Elem(), errs)
		}
	case reflect.Slice, reflect.Array:
		for i, item := range v.([]any) {
			checkFields(path.Index(i), item, t.Elem(), errs)
		}
	}
}

// checkCustom decodes v into a type that decodes itself (a timestamp, a
// quantity) and reports its error at path.
func checkCustom(path *field.Path, v any, t reflect.Type, errs *[]FieldError) {
	raw, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(raw, reflect.New(t).Interface())
	}
	if err != nil {
		*errs = append(*errs, FieldError{Field: pathString(path), Message: strings.TrimPrefix(err.Error(), "json: ")})
	}
}

// jsonTypeOf is the JSON type that encoding/json decodes into t, or "" for
// an interface.
func jsonTypeOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // []byte is base64
		}
		return "list"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return ""
}

// jsonTypeOfValue names the JSON type of a decoded value in the words of
// jsonTypeOf.
func jsonTypeOfValue(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	}
	return "value"
}

// withArticle puts "a" or "an" before a JSON type.
func withArticle(t string) string {
	if t == "object" || t == "integer" {
		return "an " + t
	}
	return "a " + t
}

// describe says what JSON a Go type takes: "a list of strings", "a map of
// objects", "an integer".
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	plural := func(elem reflect.Type) string {
		d := describe(elem)
		_, noun, _ := strings.Cut(d, " ")
		if strings.HasPrefix(noun, "list of ") || strings.HasPrefix(noun, "map of ") {
			return strings.Replace(noun, " of ", "s of ", 1)
		}
		return noun + "s"
	}
	switch jsonTypeOf(t) {
	case "object":
		if t.Kind() == reflect.Map {
			return "a map of " + plural(t.Elem())
		}
	case "list":
		return "a list of " + plural(t.Elem())
	case "":
		return "a value"
	}
	return withArticle(jsonTypeOf(t))
}

// unknownField says that key is not a field, and which fields there are: the
// one meant when a field is spelled almost alike, otherwise all of them.
func unknownField(key string, names []string) string {
	best, bestDistance := "", 3
	for _, n := range names {
		d := editDistance(n, key)
		if strings.EqualFold(n, key) {
			d = 0
		}
		if d < bestDistance && d <= len(n)/3+1 {
			best, bestDistance = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown field, did you mean %q?", best)
	}
	return "unknown field; expected one of " + strings.Join(names, ", ")
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// jsonFields maps each JSON field name of struct t to its type, with the
// fields of inlined (embedded) structs, as encoding/json reads them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if name == "" && f.Anonymous && ft.Kind() == reflect.Struct {
			for k, v := range jsonFields(ft) {
				if _, shadowed := out[k]; !shadowed {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// fieldNames lists the JSON field names of struct t, in the order declared.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
		case name == "" && f.Anonymous && ft.Kind() == reflect.Struct:
			names = append(names, fieldNames(ft)...)
		case name == "":
			names = append(names, f.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}
