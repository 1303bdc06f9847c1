package cellib

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Omit function name, overload id and the CEL type name of its result.
const (
	FunctionOmit    = "omit"
	OverloadOmit    = "omit_void"
	OmitTypeName    = "rgd.Omit"
	omitLibraryName = "rgd.omit"
)

// OmitType is the CEL runtime type of the omit() sentinel. omit() is declared to
// return dyn so that it fits any field, as in `cond ? value : omit()`.
var OmitType = types.NewOpaqueType(OmitTypeName)

// Omitted is the sentinel omit() evaluates to. It is both the CEL value and its Go
// form: Value and ConvertToNative (to an interface type or Omitted) return
// Omitted{}, so a renderer finds it with IsOmit before or after converting a
// result to Go values. Comparing it with == is an error.
type Omitted struct{}

var (
	_ ref.Val = Omitted{}

	omittedType = reflect.TypeFor[Omitted]()
)

// ConvertToNative implements ref.Val. It succeeds for interface types and Omitted.
func (Omitted) ConvertToNative(t reflect.Type) (any, error) {
	if t == omittedType || t.Kind() == reflect.Interface {
		return Omitted{}, nil
	}
	return nil, fmt.Errorf("omit() cannot be converted to %v", t)
}

// ConvertToType implements ref.Val.
func (o Omitted) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case OmitType:
		return o
	case types.TypeType:
		return OmitType
	}
	return types.NewErr("omit() cannot be converted to %s", t.TypeName())
}

// Equal implements ref.Val; omit() cannot be compared.
func (Omitted) Equal(ref.Val) ref.Val {
	return types.NewErr("omit() cannot be compared: it only marks a field or element for removal")
}

// Type implements ref.Val.
func (Omitted) Type() ref.Type { return OmitType }

// Value implements ref.Val.
func (Omitted) Value() any { return Omitted{} }

// IsOmit reports whether v is the omit() sentinel, given either as a CEL value or
// as the Go value a conversion produced (Omitted or *Omitted).
func IsOmit(v any) bool {
	switch x := v.(type) {
	case Omitted:
		return true
	case *Omitted:
		return x != nil
	}
	return false
}

// Omit returns the library declaring omit() -> dyn. It evaluates to the Omitted
// sentinel; the renderer removes the field or list element holding it. Where omit()
// is allowed (template fields only, not identity fields, readyWhen, includeWhen,
// forEach or status) is checked by the graph builder, not here. Cost: 1.
func Omit(_ ...Option) cel.EnvOption {
	return cel.Lib(omitLib{})
}

type omitLib struct{}

func (omitLib) LibraryName() string { return omitLibraryName }

func (omitLib) CompileOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function(FunctionOmit,
			cel.Overload(OverloadOmit, nil, cel.DynType,
				cel.FunctionBinding(func(...ref.Val) ref.Val { return Omitted{} }))),
	}
}

func (omitLib) ProgramOptions() []cel.ProgramOption { return nil }
