package celenv

import (
	"github.com/google/cel-go/common/types"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/common"
	"k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

const (
	extIntOrString     = "x-kubernetes-int-or-string"
	extPreserveUnknown = "x-kubernetes-preserve-unknown-fields"
)

// TypeNamePrefix starts the CEL type name of every variable's root object type: `__type_<variable>`.
const TypeNamePrefix = "__type_"

// Variable is one CEL variable with its type. Build it with ObjectVariable, ListVariable, SchemaVariable,
// ElementVariable, DeclTypeVariable, TypedVariable or DynVariable.
type Variable struct {
	// Name is the CEL identifier.
	Name string
	// DeclType is the declared type when it comes from an OpenAPI schema (nil otherwise).
	DeclType *apiservercel.DeclType
	// CelType is the declared CEL type (dyn when nothing else is known).
	CelType *types.Type
	// schema is the prepared OpenAPI schema of the value, used to convert unstructured input; nil means dyn.
	schema *spec.Schema
}

// ObjectVariable declares name as a Kubernetes object described by s (a resource root). The schema is first
// prepared: x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string, typed anyOf/oneOf branches, a
// missing type and unresolved $refs become dyn, and apiVersion, kind and a full ObjectMeta (name, generateName,
// namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp,
// deletionGracePeriodSeconds, labels, annotations, finalizers, ownerReferences) are added where the schema
// lacks them; properties the schema already declares under metadata are kept. The root type is named
// `__type_<name>`.
func ObjectVariable(name string, s *spec.Schema) Variable {
	prepared := withObjectMeta(prepare(s))
	dt := declType(name, prepared, true)
	return Variable{Name: name, DeclType: dt, CelType: dt.CelType(), schema: prepared}
}

// PrunedObjectVariable declares name as an object described by s exactly as
// given (prepared for CEL, but no ObjectMeta, apiVersion or kind added): for
// schemas a compiler has already cut down to the fields its expressions
// select, where adding the rest back would only cost time.
func PrunedObjectVariable(name string, s *spec.Schema) Variable {
	prepared := prepare(s)
	// Not a "resource root": the apiserver would replace a metadata that
	// lacks name and generateName with just those two.
	dt := declType(name, prepared, false)
	return Variable{Name: name, DeclType: dt, CelType: dt.CelType(), schema: prepared}
}

// PrunedListVariable is ListVariable for a schema already cut down (see
// PrunedObjectVariable).
func PrunedListVariable(name string, s *spec.Schema) Variable {
	elem := prepare(s)
	dt := declType(name, elem, false)
	list := apiservercel.NewListType(dt, CollectionMaxItems)
	arr := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{Schema: elem}}}
	return Variable{Name: name, DeclType: list, CelType: list.CelType(), schema: arr}
}

// ObjectMetaSchema returns the schema of metav1.ObjectMeta that
// ObjectVariable adds to objects whose schema lacks it.
func ObjectMetaSchema() spec.Schema { return objectMetaSchema() }

// ListVariable declares name as a list of Kubernetes objects described by s (a forEach collection or an
// external collection). Elements are prepared as in ObjectVariable. For cost estimation the list holds at
// most CollectionMaxItems objects; evaluation is still bounded by PerCallCostLimit whatever the real size.
func ListVariable(name string, s *spec.Schema) Variable {
	elem := withObjectMeta(prepare(s))
	dt := declType(name, elem, true)
	list := apiservercel.NewListType(dt, CollectionMaxItems)
	arr := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{Schema: elem}}}
	return Variable{Name: name, DeclType: list, CelType: list.CelType(), schema: arr}
}

// SchemaVariable declares name as a plain value described by s (not a resource root: no ObjectMeta added).
func SchemaVariable(name string, s *spec.Schema) Variable {
	prepared := prepare(s)
	dt := declType(name, prepared, false)
	return Variable{Name: name, DeclType: dt, CelType: dt.CelType(), schema: prepared}
}

// ElementVariable declares name as one element of the array described by arraySchema (a forEach iterator
// over a schema field). A schema that is not an array with items gives a dyn variable.
func ElementVariable(name string, arraySchema *spec.Schema) Variable {
	if arraySchema == nil || arraySchema.Items == nil || arraySchema.Items.Schema == nil {
		return DynVariable(name)
	}
	return SchemaVariable(name, arraySchema.Items.Schema)
}

// DeclTypeVariable declares name with an existing DeclType; object types inside it are registered in the
// environment under their own names. Values are converted without a schema (as dyn data).
func DeclTypeVariable(name string, t *apiservercel.DeclType) Variable {
	if t == nil {
		return DynVariable(name)
	}
	return Variable{Name: name, DeclType: t, CelType: t.CelType()}
}

// TypedVariable declares name with a CEL type, typically the element type of a type-checked forEach list
// (struct types must then be registered by another variable of the same environment). When t names a
// registered object type, values are converted with that type's schema.
func TypedVariable(name string, t *types.Type) Variable {
	if t == nil {
		return DynVariable(name)
	}
	return Variable{Name: name, CelType: t}
}

// DynVariable declares name as dyn: anything is accepted at compile time and checked at run time.
func DynVariable(name string) Variable {
	return Variable{Name: name, CelType: types.DynType}
}

func declType(name string, prepared *spec.Schema, root bool) *apiservercel.DeclType {
	dt := common.SchemaDeclType(&openapi.Schema{Schema: prepared}, root)
	if dt == nil {
		return apiservercel.DynType
	}
	if dt.IsObject() || dt.IsList() || dt.IsMap() {
		dt = dt.MaybeAssignTypeName(TypeNamePrefix + name)
	}
	return dt
}

// CollectionMaxItems is the size ListVariable assumes for a collection when estimating cost. Every item is a
// Kubernetes object rgd manages, so collections are far smaller than what fits in a request (the bound the
// API server would use, about a million objects, would reject even a single map() over a collection).
// With this bound one or two nested passes over a collection are accepted statically; deeper nesting is
// rejected.
const CollectionMaxItems = 1000

// Bounds assumed, for cost estimation only, where a schema declares none. The API server's own fallback (as
// many items as fit in a 3 MB request) makes even `conditions.exists(c, c.type == "Ready")` on a Deployment
// look like tens of millions of operations, and RGD authors cannot add maxItems to kinds they do not own.
// rgd therefore estimates with these bounds: lists and maps as UnboundedListItems entries, strings as
// UnboundedStringLength bytes. Explicit maxItems, maxProperties and maxLength are used as given. Deep nesting
// is still rejected at compile time (four nested loops over such a list cost about 10^12), and whatever the
// real size, every evaluation stops at PerCallCostLimit.
const (
	UnboundedListItems    = 1000
	UnboundedStringLength = 1024
)

// dynSchema is the prepared form of every value CEL cannot type: int-or-string makes SchemaDeclType answer
// dyn, and value conversion leaves such data as it is.
func dynSchema() *spec.Schema {
	s := &spec.Schema{}
	s.AddExtension(extIntOrString, true)
	return s
}

// isDyn reports whether a prepared schema stands for a dyn value.
func isDyn(s *spec.Schema) bool {
	if s == nil {
		return true
	}
	v, _ := s.Extensions.GetBool(extIntOrString)
	return v || s.Format == "int-or-string"
}

// prepare returns a copy of s in which every part CEL cannot type precisely is dyn (see ObjectVariable).
func prepare(s *spec.Schema) *spec.Schema {
	if s == nil || isDyn(s) {
		return dynSchema()
	}
	if v, _ := s.Extensions.GetBool(extPreserveUnknown); v {
		return dynSchema()
	}
	if typedBranches(s.AnyOf) || typedBranches(s.OneOf) || len(s.Type) > 1 {
		return dynSchema()
	}
	out := *s
	out.AllOf, out.AnyOf, out.OneOf, out.Not = nil, nil, nil, nil
	typ := ""
	if len(s.Type) == 1 {
		typ = s.Type[0]
	}
	assumeBounds(&out, typ)
	switch {
	case typ == "array" || typ == "" && s.Items != nil:
		out.Type = spec.StringOrArray{"array"}
		var items *spec.Schema
		if s.Items != nil && s.Items.Schema != nil {
			items = s.Items.Schema
		}
		out.Items = &spec.SchemaOrArray{Schema: prepare(items)}
	case typ == "object" || typ == "" && (len(s.Properties) > 0 || s.AdditionalProperties != nil):
		out.Type = spec.StringOrArray{"object"}
		if len(s.Properties) > 0 {
			props := make(map[string]spec.Schema, len(s.Properties))
			for k, p := range s.Properties {
				props[k] = *prepare(&p)
			}
			out.Properties = props
			out.AdditionalProperties = nil
		} else if s.AdditionalProperties != nil && (s.AdditionalProperties.Schema != nil || s.AdditionalProperties.Allows) {
			out.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: prepare(s.AdditionalProperties.Schema)}
		}
	case typ == "":
		return dynSchema()
	}
	return &out
}

// assumeBounds sets the size bounds cost estimation uses where s declares none (see UnboundedListItems).
func assumeBounds(s *spec.Schema, typ string) {
	bound := func(p **int64, v int64) {
		if *p == nil {
			*p = &v
		}
	}
	switch {
	case typ == "array" || typ == "" && s.Items != nil:
		bound(&s.MaxItems, UnboundedListItems)
	case typ == "object" && len(s.Properties) == 0 && s.AdditionalProperties != nil:
		bound(&s.MaxProperties, UnboundedListItems)
	case typ == "string" && s.Format == "":
		bound(&s.MaxLength, UnboundedStringLength)
	}
}

func typedBranches(branches []spec.Schema) bool {
	for _, b := range branches {
		if len(b.Type) > 0 || b.Ref.String() != "" {
			return true
		}
	}
	return false
}

func stringSchema() spec.Schema { return *spec.StringProperty() }

// objectMetaSchema is the part of metav1.ObjectMeta that templates read.
func objectMetaSchema() spec.Schema {
	str := stringSchema()
	dateTime := *spec.DateTimeProperty()
	strMap := *spec.MapProperty(spec.StringProperty())
	owner := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"apiVersion": str, "kind": str, "name": str, "uid": str,
		"controller": *spec.BoolProperty(), "blockOwnerDeletion": *spec.BoolProperty(),
	}}}
	return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"name": str, "generateName": str, "namespace": str, "uid": str, "resourceVersion": str,
		"generation": *spec.Int64Property(), "creationTimestamp": dateTime, "deletionTimestamp": dateTime,
		"deletionGracePeriodSeconds": *spec.Int64Property(),
		"labels":                     strMap, "annotations": strMap,
		"finalizers":      *spec.ArrayProperty(spec.StringProperty()),
		"ownerReferences": *spec.ArrayProperty(&owner),
	}}}
}

// withObjectMeta adds apiVersion, kind and ObjectMeta properties missing from a prepared root schema.
func withObjectMeta(s *spec.Schema) *spec.Schema {
	if isDyn(s) {
		s = &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}}}
	}
	out := *s
	props := make(map[string]spec.Schema, len(s.Properties)+3)
	for k, v := range s.Properties {
		props[k] = v
	}
	for _, k := range []string{"apiVersion", "kind"} {
		if _, ok := props[k]; !ok || isDyn(ptr(props[k])) {
			props[k] = stringSchema()
		}
	}
	meta := objectMetaSchema()
	if cur, ok := props["metadata"]; ok && !isDyn(&cur) && len(cur.Properties) > 0 {
		merged := cur
		mp := make(map[string]spec.Schema, len(meta.Properties))
		for k, v := range meta.Properties {
			mp[k] = v
		}
		for k, v := range cur.Properties {
			mp[k] = v
		}
		merged.Properties = mp
		meta = merged
	}
	props["metadata"] = meta
	out.Type = spec.StringOrArray{"object"}
	out.Properties = props
	out.AdditionalProperties = nil
	return &out
}

func ptr[T any](v T) *T { return &v }
