package celenv

import (
	"fmt"
	"sort"

	"github.com/google/cel-go/common/types"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiservercel "k8s.io/apiserver/pkg/cel"
)

// CheckAssignable reports whether a value of CEL type got may be written where expected (from the target
// field's schema) is declared, following kro: first CEL assignability, then structural compatibility.
// dyn on either side passes; optional_type(T) is checked as T; primitive kinds must be equal (a string is
// also accepted for timestamp and duration fields, whose JSON form is a string); lists and maps are checked
// element-wise; a map is accepted for an object when its keys are strings and its value type fits at least
// one field, and an object for a map when all its fields fit the map's value type; an object is accepted for
// another object when every field it has exists in the expected one and fits (fewer fields are fine, extra
// ones are an error). The error names both types and the first mismatching field path.
func (e *Env) CheckAssignable(expected *apiservercel.DeclType, got *types.Type) error {
	if expected == nil {
		return nil
	}
	if err := e.compatible(expected, got, ""); err != nil {
		return fmt.Errorf("expression returns type %q but expected %q: %s", typeString(got), expected.CelType().String(), err)
	}
	return nil
}

func typeString(t *types.Type) string {
	if t == nil {
		return "dyn"
	}
	return t.String()
}

func at(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "at " + path
}

func unwrapOptional(t *types.Type) *types.Type {
	for t != nil && t.Kind() == types.OpaqueKind && t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
		t = t.Parameters()[0]
	}
	return t
}

func isDynType(t *types.Type) bool {
	if t == nil {
		return true
	}
	switch t.Kind() {
	case types.DynKind, types.AnyKind, types.TypeParamKind, types.ErrorKind:
		return true
	}
	return false
}

// compatible is CheckAssignable's recursive step: it checks got against expected at path, the field path
// named in the error.
func (e *Env) compatible(expected *apiservercel.DeclType, got *types.Type, path string) error {
	got = unwrapOptional(got)
	if expected == nil || isDynType(got) {
		return nil
	}
	exp := expected.CelType()
	if isDynType(exp) || exp.IsAssignableType(got) {
		return nil
	}
	switch {
	case expected.IsList():
		return e.compatibleList(expected, got, path)
	case expected.IsMap():
		return e.compatibleMap(expected, got, path)
	case expected.IsObject():
		return e.compatibleObject(expected, got, path)
	}
	return compatiblePrimitive(exp, got, path)
}

// compatibleList checks got against a list type: it must be a list whose elements fit.
func (e *Env) compatibleList(expected *apiservercel.DeclType, got *types.Type, path string) error {
	if got.Kind() != types.ListKind {
		return fmt.Errorf("%s: expected a list, got %s", at(path), typeString(got))
	}
	return e.compatible(expected.ElemType, got.Parameters()[0], path+"[]")
}

// compatibleMap checks got against a map type: a map whose keys and values fit, or an object all of whose
// fields fit the map's value type.
func (e *Env) compatibleMap(expected *apiservercel.DeclType, got *types.Type, path string) error {
	switch got.Kind() {
	case types.MapKind:
		if err := e.compatible(expected.KeyType, got.Parameters()[0], path+"(key)"); err != nil {
			return err
		}
		return e.compatible(expected.ElemType, got.Parameters()[1], path+"[*]")
	case types.StructKind:
		gotDecl, err := e.objectDecl(got, path)
		if err != nil {
			return err
		}
		for _, name := range sortedFields(gotDecl) {
			if err := e.compatible(expected.ElemType, gotDecl.Fields[name].Type.CelType(), join(path, name)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s: expected a map, got %s", at(path), typeString(got))
}

// compatibleObject checks got against an object type: a map with string keys (see mapFitsObject), or an
// object (see objectFitsObject).
func (e *Env) compatibleObject(expected *apiservercel.DeclType, got *types.Type, path string) error {
	switch got.Kind() {
	case types.MapKind:
		return e.mapFitsObject(expected, got, path)
	case types.StructKind:
		return e.objectFitsObject(expected, got, path)
	}
	return fmt.Errorf("%s: expected an object, got %s", at(path), typeString(got))
}

// mapFitsObject accepts a map for an object when its keys are strings and its value type fits at least one
// of the object's fields; the error then carries the mismatch of the first field, in name order.
func (e *Env) mapFitsObject(expected *apiservercel.DeclType, got *types.Type, path string) error {
	if k := got.Parameters()[0]; !isDynType(k) && k.Kind() != types.StringKind {
		return fmt.Errorf("%s: expected an object, got a map with %s keys", at(path), typeString(k))
	}
	val := got.Parameters()[1]
	if len(expected.Fields) == 0 || isDynType(unwrapOptional(val)) {
		return nil
	}
	var first error
	for _, name := range sortedFields(expected) {
		err := e.compatible(expected.Fields[name].Type, val, join(path, name))
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return fmt.Errorf("%s: map values of type %s fit no field of the object (%v)", at(path), typeString(val), first)
}

// objectFitsObject accepts an object for another when every field it has exists in the expected one and
// fits; fewer fields are fine.
func (e *Env) objectFitsObject(expected *apiservercel.DeclType, got *types.Type, path string) error {
	gotDecl, err := e.objectDecl(got, path)
	if err != nil {
		return err
	}
	for _, name := range sortedFields(gotDecl) {
		f, ok := expected.Fields[name]
		if !ok {
			return fmt.Errorf("%s: field %q does not exist in the expected object", at(path), unescape(name))
		}
		if err := e.compatible(f.Type, gotDecl.Fields[name].Type.CelType(), join(path, unescape(name))); err != nil {
			return err
		}
	}
	return nil
}

// objectDecl looks up the declaration of the registered object type got.
func (e *Env) objectDecl(got *types.Type, path string) (*apiservercel.DeclType, error) {
	gotDecl, ok := e.provider.FindDeclType(got.TypeName())
	if !ok {
		return nil, fmt.Errorf("%s: unknown object type %s", at(path), got.TypeName())
	}
	return gotDecl, nil
}

// compatiblePrimitive requires equal primitive kinds, except that a string fits a timestamp or duration
// (whose JSON form is a string).
func compatiblePrimitive(exp, got *types.Type, path string) error {
	if exp.Kind() == got.Kind() {
		return nil
	}
	if (exp.Kind() == types.TimestampKind || exp.Kind() == types.DurationKind) && got.Kind() == types.StringKind {
		return nil
	}
	return fmt.Errorf("%s: expected %s, got %s", at(path), exp.String(), typeString(got))
}

func unescape(name string) string {
	if n, ok := apiservercel.Unescape(name); ok {
		return n
	}
	return name
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func sortedFields(t *apiservercel.DeclType) []string {
	names := make([]string, 0, len(t.Fields))
	for n := range t.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SchemaForType maps a CEL type to the OpenAPI schema of a status field (kro's status inference): bool ->
// boolean, int/uint -> integer, double -> number, string -> string, bytes -> string/byte, timestamp ->
// string/date-time, duration -> string/duration, list -> array, map -> object with additionalProperties, a
// registered object type -> its properties, optional_type(T) -> T, and dyn, null or anything unknown ->
// x-kubernetes-preserve-unknown-fields.
func (e *Env) SchemaForType(t *types.Type) *apiextensionsv1.JSONSchemaProps {
	t = unwrapOptional(t)
	if t == nil {
		return preserveUnknown()
	}
	switch t.Kind() {
	case types.BoolKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "boolean"}
	case types.IntKind, types.UintKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "integer"}
	case types.DoubleKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "number"}
	case types.StringKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "string"}
	case types.BytesKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "string", Format: "byte"}
	case types.TimestampKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "string", Format: "date-time"}
	case types.DurationKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "string", Format: "duration"}
	case types.ListKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "array",
			Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: e.SchemaForType(t.Parameters()[0])}}
	case types.MapKind:
		return &apiextensionsv1.JSONSchemaProps{Type: "object",
			AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: e.SchemaForType(t.Parameters()[1])}}
	case types.StructKind:
		if dt, ok := e.provider.FindDeclType(t.TypeName()); ok && dt.IsObject() {
			return SchemaForDeclType(dt)
		}
	}
	return preserveUnknown()
}

// SchemaForDeclType maps a DeclType (from an OpenAPI schema) back to a status field schema as SchemaForType
// does, keeping every property of object types (with their original, unescaped names).
func SchemaForDeclType(dt *apiservercel.DeclType) *apiextensionsv1.JSONSchemaProps {
	if dt == nil {
		return preserveUnknown()
	}
	switch {
	case dt.IsObject():
		props := make(map[string]apiextensionsv1.JSONSchemaProps, len(dt.Fields))
		for name, f := range dt.Fields {
			if n, ok := apiservercel.Unescape(name); ok {
				name = n
			}
			props[name] = *SchemaForDeclType(f.Type)
		}
		return &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}
	case dt.IsList():
		return &apiextensionsv1.JSONSchemaProps{Type: "array",
			Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: SchemaForDeclType(dt.ElemType)}}
	case dt.IsMap():
		return &apiextensionsv1.JSONSchemaProps{Type: "object",
			AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: SchemaForDeclType(dt.ElemType)}}
	}
	var env Env // scalars do not need registered types
	return env.SchemaForType(dt.CelType())
}

func preserveUnknown() *apiextensionsv1.JSONSchemaProps {
	t := true
	return &apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: &t}
}
