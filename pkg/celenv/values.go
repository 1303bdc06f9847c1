package celenv

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
)

// Activation converts unstructured input values (map[string]any, []any, JSON scalars) to what the declared
// variables' types expect: numbers are made int64 or float64 as the schema says, date-time/date strings become
// timestamps, duration strings durations, byte strings bytes, and null properties of typed objects are
// dropped (an absent field and a null field read the same). Values for undeclared names, ref.Val values and
// dyn parts pass through unchanged; the input is never modified.
func (e *Env) Activation(values map[string]any) map[string]any {
	out := make(map[string]any, len(values))
	for name, val := range values {
		v, ok := e.vars[name]
		if _, isVal := val.(ref.Val); !ok || isVal {
			out[name] = val
			continue
		}
		s := v.schema
		if s == nil && v.DeclType == nil {
			s = e.schemaForCelType(v.CelType)
		}
		out[name] = e.normalize(val, s)
	}
	return out
}

// schemaForCelType finds the prepared schema of a registered object type, or of a list of one.
func (e *Env) schemaForCelType(t *types.Type) *spec.Schema {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case types.StructKind:
		return e.schemas[t.TypeName()]
	case types.ListKind:
		if elem := e.schemaForCelType(t.Parameters()[0]); elem != nil {
			return &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{Schema: elem}}}
		}
	}
	return nil
}

// propertySchemas returns pointers to the schemas of s's properties, built
// once per schema.
func (e *Env) propertySchemas(s *spec.Schema) map[string]*spec.Schema {
	if idx, ok := e.properties.Load(s); ok {
		return idx.(map[string]*spec.Schema)
	}
	idx := make(map[string]*spec.Schema, len(s.Properties))
	for k := range s.Properties {
		p := s.Properties[k]
		idx[k] = &p
	}
	actual, _ := e.properties.LoadOrStore(s, idx)
	return actual.(map[string]*spec.Schema)
}

// normalize returns v with scalars converted per the prepared schema s, copying only what changes.
func (e *Env) normalize(v any, s *spec.Schema) any {
	if v == nil || isDyn(s) || len(s.Type) == 0 {
		return v
	}
	switch s.Type[0] {
	case "object":
		return e.normalizeObject(v, s)
	case "array":
		return e.normalizeArray(v, s)
	case "integer":
		return toInt64(v)
	case "number":
		return toFloat64(v)
	case "string":
		return parseFormatted(v, s.Format)
	}
	return v
}

// normalizeObject normalizes the properties of a map per s (declared properties, else additionalProperties)
// and drops null properties when s declares any. The map is copied on the first change only.
func (e *Env) normalizeObject(v any, s *spec.Schema) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	var props map[string]*spec.Schema
	if len(s.Properties) > 0 {
		props = e.propertySchemas(s)
	}
	var out map[string]any
	for k, child := range m {
		drop := child == nil && len(props) > 0
		nc := child
		if !drop {
			nc = e.normalizeProperty(child, props[k], s.AdditionalProperties)
		}
		if drop || !same(nc, child) {
			if out == nil {
				out = maps.Clone(m)
			}
			if drop {
				delete(out, k)
			} else {
				out[k] = nc
			}
		}
	}
	if out == nil {
		return m
	}
	return out
}

// normalizeProperty normalizes one property value per its declared schema prop, or when there is none per
// the object's additionalProperties schema; without either it is returned unchanged.
func (e *Env) normalizeProperty(v any, prop *spec.Schema, additional *spec.SchemaOrBool) any {
	switch {
	case prop != nil:
		return e.normalize(v, prop)
	case additional != nil && additional.Schema != nil:
		return e.normalize(v, additional.Schema)
	}
	return v
}

// normalizeArray normalizes the items of a list per s.Items, copying the list on the first change only.
func (e *Env) normalizeArray(v any, s *spec.Schema) any {
	l, ok := v.([]any)
	if !ok || s.Items == nil || s.Items.Schema == nil {
		return v
	}
	var out []any
	for i, item := range l {
		ni := e.normalize(item, s.Items.Schema)
		if !same(ni, item) {
			if out == nil {
				out = append([]any(nil), l...)
			}
			out[i] = ni
		}
	}
	if out == nil {
		return v // not l: boxing the slice again would allocate
	}
	return out
}

// toInt64 converts a whole float64, an int or an int32 to int64 for an integer field; anything else is
// returned unchanged.
func toInt64(v any) any {
	switch n := v.(type) {
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<63 {
			return int64(n)
		}
	case int:
		return int64(n)
	case int32:
		return int64(n)
	}
	return v
}

// toFloat64 converts an int64, int or int32 to float64 for a number field; anything else is returned
// unchanged.
func toFloat64(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case int32:
		return float64(n)
	}
	return v
}

// parseFormatted converts a string of a string field with a date-time, date, duration or byte format to a
// time.Time, time.Duration or []byte; anything else, including a string that does not parse, is returned
// unchanged.
func parseFormatted(v any, format string) any {
	str, ok := v.(string)
	if !ok {
		return v
	}
	switch format {
	case "date-time":
		if t, err := strfmt.ParseDateTime(str); err == nil {
			return time.Time(t)
		}
	case "date":
		if t, err := time.Parse(strfmt.RFC3339FullDate, str); err == nil {
			return t
		}
	case "duration":
		if d, err := strfmt.ParseDuration(str); err == nil {
			return d
		}
	case "byte":
		if b, err := base64.StdEncoding.DecodeString(str); err == nil {
			return b
		}
	}
	return v
}

// same reports whether normalize left a value unchanged (maps and slices by identity).
func same(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		return ok && reflect.ValueOf(av).UnsafePointer() == reflect.ValueOf(bv).UnsafePointer()
	case []any:
		bv, ok := b.([]any)
		return ok && len(av) == len(bv) && (len(av) == 0 || &av[0] == &bv[0])
	case []byte, time.Time, time.Duration:
		return false
	}
	return a == b
}

// Eval runs a program on an activation and returns the result as plain Go data for unstructured objects:
// map[string]any, []any, int64, float64, string, bool or nil (see ToNative). Errors carry cel-go's text;
// classify them with IsDataPending, and ErrCostLimitExceeded (see EvalError).
func Eval(prg cel.Program, activation map[string]any) (any, error) {
	out, _, err := prg.Eval(activation)
	if err != nil {
		return nil, EvalError(err)
	}
	return ToNative(out)
}

// Eval converts values with Activation and evaluates the compiled expression.
func (e *Env) Eval(c *Compiled, values map[string]any) (any, error) {
	return Eval(c.Program, e.Activation(values))
}

// ToNative converts a CEL value to unstructured-friendly Go data. Uints become int64 (an error above
// MaxInt64), bytes become base64 strings, timestamps RFC 3339 strings, durations Go duration strings, an
// empty optional nil and a present one its value. Maps must have string keys.
func ToNative(v ref.Val) (any, error) {
	switch val := v.(type) {
	case nil:
		return nil, errors.New("no value")
	case *types.Err:
		return nil, val
	case *types.Unknown:
		return nil, fmt.Errorf("unknown value for expression ids %v", val.IDs())
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(val), nil
	case types.Int:
		return int64(val), nil
	case types.Uint:
		if uint64(val) > math.MaxInt64 {
			return nil, fmt.Errorf("uint value %d does not fit in an int64", uint64(val))
		}
		return int64(val), nil
	case types.Double:
		return float64(val), nil
	case types.String:
		return string(val), nil
	case types.Bytes:
		return base64.StdEncoding.EncodeToString(val), nil
	case types.Timestamp:
		return val.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return val.Duration.String(), nil
	case *types.Type:
		return nil, fmt.Errorf("cannot represent a CEL type value (%s) in an object", val.TypeName())
	case *types.Optional:
		if !val.HasValue() {
			return nil, nil
		}
		return ToNative(val.GetValue())
	}
	if m, ok := v.(traits.Mapper); ok {
		out := map[string]any{}
		it := m.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v has type %s, expected string", k.Value(), k.Type().TypeName())
			}
			nv, err := ToNative(m.Get(k))
			if err != nil {
				return nil, fmt.Errorf("map key %q: %w", string(ks), err)
			}
			out[string(ks)] = nv
		}
		return out, nil
	}
	if l, ok := v.(traits.Lister); ok {
		out := []any{}
		it := l.Iterator()
		for i := 0; it.HasNext() == types.True; i++ {
			nv, err := ToNative(it.Next())
			if err != nil {
				return nil, fmt.Errorf("list index %d: %w", i, err)
			}
			out = append(out, nv)
		}
		return out, nil
	}
	switch raw := v.Value().(type) {
	case nil, bool, int64, float64, string:
		return raw, nil
	}
	return nil, fmt.Errorf("cannot represent a CEL value of type %s in an object", v.Type().TypeName())
}

// dataPendingMarkers are the error texts meaning that an input is not there yet (kro parity plus cel-go's
// list index wording).
var dataPendingMarkers = []string{
	"no such key", "no such field", "no such attribute", "index out of bounds", "out of range in list",
}

// IsDataPending reports whether an evaluation error means "the data is not there yet" (a missing key, field
// or attribute, or a list index past the end): wait and evaluate again rather than fail.
func IsDataPending(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, m := range dataPendingMarkers {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
