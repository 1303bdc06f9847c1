package cellib

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	"google.golang.org/protobuf/types/known/structpb"
)

// JSON function names and overload ids.
const (
	FunctionJSONUnmarshal = "json.unmarshal"
	FunctionJSONMarshal   = "json.marshal"
	OverloadJSONUnmarshal = "json_unmarshal_string"
	OverloadJSONMarshal   = "json_marshal_dyn"
	jsonLibraryName       = "rgd.json"
)

// JSON returns the JSON library:
//
//	json.unmarshal(string) -> dyn
//	json.marshal(dyn) -> string
//
// json.unmarshal parses exactly one JSON value. Objects become map(string, dyn),
// arrays list(dyn), integers that fit in 64 bits int, other numbers double. Invalid
// JSON, trailing data, input larger than the byte limit (MaxJSONBytes, default
// DefaultMaxJSONBytes) or nesting deeper than MaxJSONDepth are errors.
//
// json.marshal writes compact JSON with object keys sorted, so equal values always
// give the same text. It encodes null, bool, int, uint, double (NaN and infinities
// are errors), string, bytes (standard base64), timestamp (RFC 3339), duration (Go
// duration text such as "1m30s"), lists and maps (string, int, uint or bool keys;
// non-string keys are written as their decimal/"true"/"false" text and two keys with
// the same text are an error). Map entries and list elements whose value is omit()
// are left out. Output above the byte limit is an error.
//
// Cost: 1 + 0.1 per byte of input text (unmarshal) or output text (marshal).
func JSON(opts ...Option) cel.EnvOption {
	return cel.Lib(&jsonLib{max: newConfig(opts).maxJSONBytes})
}

type jsonLib struct{ max int }

func (*jsonLib) LibraryName() string { return jsonLibraryName }

func (l *jsonLib) CompileOptions() []cel.EnvOption {
	limit := uint64(l.max)
	return []cel.EnvOption{
		cel.Function(FunctionJSONUnmarshal,
			cel.Overload(OverloadJSONUnmarshal, []*cel.Type{cel.StringType}, cel.DynType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(v)
					}
					out, err := jsonUnmarshal(string(s), l.max)
					if err != nil {
						return types.WrapErr(err)
					}
					return out
				}))),
		cel.Function(FunctionJSONMarshal,
			cel.Overload(OverloadJSONMarshal, []*cel.Type{cel.DynType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					out, err := jsonMarshal(v, l.max)
					if err != nil {
						return types.WrapErr(err)
					}
					return types.String(out)
				}))),
		cel.CostEstimatorOptions(
			checker.OverloadCostEstimate(OverloadJSONUnmarshal,
				func(e checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
					in := capped(argSize(e, args[0]), limit)
					return &checker.CallEstimate{CostEstimate: textEstimate(in), ResultSize: &in}
				}),
			checker.OverloadCostEstimate(OverloadJSONMarshal,
				func(checker.CostEstimator, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
					// The output size is not known statically; the byte limit bounds it.
					out := checker.SizeEstimate{Min: 1, Max: limit}
					return &checker.CallEstimate{CostEstimate: textEstimate(out), ResultSize: &out}
				}),
		),
	}
}

func (*jsonLib) ProgramOptions() []cel.ProgramOption {
	return []cel.ProgramOption{cel.CostTrackerOptions(
		interpreter.OverloadCostTracker(OverloadJSONUnmarshal, trackText(0)),
		interpreter.OverloadCostTracker(OverloadJSONMarshal, func(_ []ref.Val, result ref.Val) *uint64 {
			// Charge for the text produced; a failed call is charged the minimum.
			return ptr(1 + textCost(sizeOf(result)))
		}),
	)}
}

func jsonUnmarshal(s string, limit int) (ref.Val, error) {
	if len(s) > limit {
		return nil, fmt.Errorf("json.unmarshal: input is %d bytes, more than the limit of %d bytes", len(s), limit)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("json.unmarshal: invalid JSON: empty input")
		}
		return nil, fmt.Errorf("json.unmarshal: invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("json.unmarshal: invalid JSON: unexpected data after the value at offset %d", dec.InputOffset())
	}
	return jsonToVal(v, 0)
}

func jsonToVal(v any, depth int) (ref.Val, error) {
	switch x := v.(type) {
	case nil:
		return types.NullValue, nil
	case bool:
		return types.Bool(x), nil
	case string:
		return types.String(x), nil
	case json.Number:
		return jsonNumber(string(x))
	case []any:
		if depth >= MaxJSONDepth {
			return nil, fmt.Errorf("json.unmarshal: nesting deeper than %d", MaxJSONDepth)
		}
		out := make([]ref.Val, len(x))
		for i, e := range x {
			ev, err := jsonToVal(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return types.NewRefValList(types.DefaultTypeAdapter, out), nil
	case map[string]any:
		if depth >= MaxJSONDepth {
			return nil, fmt.Errorf("json.unmarshal: nesting deeper than %d", MaxJSONDepth)
		}
		out := make(map[ref.Val]ref.Val, len(x))
		for k, e := range x {
			ev, err := jsonToVal(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[types.String(k)] = ev
		}
		return types.NewRefValMap(types.DefaultTypeAdapter, out), nil
	}
	return nil, fmt.Errorf("json.unmarshal: unexpected decoded value %T", v)
}

func jsonNumber(s string) (ref.Val, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return types.Int(i), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("json.unmarshal: number %s is out of range for a double", s)
	}
	return types.Double(f), nil
}

var (
	errJSONTooLarge = errors.New("json.marshal: output larger than the limit")
	jsonValueType   = reflect.TypeFor[*structpb.Value]()
)

type jsonWriter struct {
	buf   bytes.Buffer
	limit int
}

func jsonMarshal(v ref.Val, limit int) (string, error) {
	if IsOmit(v) {
		return "", errors.New("json.marshal: omit() has no JSON form")
	}
	w := &jsonWriter{limit: limit}
	if err := w.value(v, 0); err != nil {
		if errors.Is(err, errJSONTooLarge) {
			return "", fmt.Errorf("json.marshal: output is more than the limit of %d bytes", limit)
		}
		return "", err
	}
	return w.buf.String(), nil
}

func (w *jsonWriter) write(s string) error {
	if w.buf.Len()+len(s) > w.limit {
		return errJSONTooLarge
	}
	w.buf.WriteString(s)
	return nil
}

func (w *jsonWriter) str(s string) error {
	b, err := encodeJSONString(s)
	if err != nil {
		return err
	}
	return w.write(b)
}

func encodeJSONString(s string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", fmt.Errorf("json.marshal: %v", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func (w *jsonWriter) value(v ref.Val, depth int) error {
	switch x := v.(type) {
	case types.Null:
		return w.write("null")
	case types.Bool:
		return w.write(strconv.FormatBool(bool(x)))
	case types.Int:
		return w.write(strconv.FormatInt(int64(x), 10))
	case types.Uint:
		return w.write(strconv.FormatUint(uint64(x), 10))
	case types.Double:
		return w.double(float64(x))
	case types.String:
		return w.str(string(x))
	case types.Bytes:
		return w.str(base64.StdEncoding.EncodeToString(x))
	case types.Timestamp:
		return w.str(x.Time.UTC().Format(time.RFC3339Nano))
	case types.Duration:
		return w.str(x.Duration.String())
	case *types.Err:
		return x
	case traits.Lister:
		return w.list(x, depth)
	case traits.Mapper:
		return w.object(x, depth)
	}
	// Anything else (protobuf messages, wrappers, custom values) goes through
	// cel-go's own JSON conversion.
	native, err := v.ConvertToNative(jsonValueType)
	if err != nil {
		return fmt.Errorf("json.marshal: cannot encode a value of type %s", v.Type().TypeName())
	}
	pv, ok := native.(*structpb.Value)
	if !ok {
		return fmt.Errorf("json.marshal: cannot encode a value of type %s", v.Type().TypeName())
	}
	return w.value(types.DefaultTypeAdapter.NativeToValue(pv), depth)
}

func (w *jsonWriter) double(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("json.marshal: %v has no JSON form", f)
	}
	if f == 0 {
		f = 0 // negative zero is written as 0, as it would read back as the int 0
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("json.marshal: %v", err)
	}
	return w.write(string(b))
}

func (w *jsonWriter) list(l traits.Lister, depth int) error {
	if depth >= MaxJSONDepth {
		return fmt.Errorf("json.marshal: nesting deeper than %d", MaxJSONDepth)
	}
	if err := w.write("["); err != nil {
		return err
	}
	first := true
	for it := l.Iterator(); it.HasNext() == types.True; {
		e := it.Next()
		if IsOmit(e) {
			continue
		}
		if !first {
			if err := w.write(","); err != nil {
				return err
			}
		}
		first = false
		if err := w.value(e, depth+1); err != nil {
			return err
		}
	}
	return w.write("]")
}

func (w *jsonWriter) object(m traits.Mapper, depth int) error {
	if depth >= MaxJSONDepth {
		return fmt.Errorf("json.marshal: nesting deeper than %d", MaxJSONDepth)
	}
	type entry struct {
		key string
		val ref.Val
	}
	var entries []entry
	seen := map[string]bool{}
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		ks, err := jsonKey(k)
		if err != nil {
			return err
		}
		if seen[ks] {
			return fmt.Errorf("json.marshal: two map keys are both written as %q", ks)
		}
		seen[ks] = true
		val := m.Get(k)
		if IsOmit(val) {
			continue
		}
		entries = append(entries, entry{ks, val})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	if err := w.write("{"); err != nil {
		return err
	}
	for i, e := range entries {
		if i > 0 {
			if err := w.write(","); err != nil {
				return err
			}
		}
		if err := w.str(e.key); err != nil {
			return err
		}
		if err := w.write(":"); err != nil {
			return err
		}
		if err := w.value(e.val, depth+1); err != nil {
			return err
		}
	}
	return w.write("}")
}

func jsonKey(k ref.Val) (string, error) {
	switch x := k.(type) {
	case types.String:
		return string(x), nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case types.Bool:
		return strconv.FormatBool(bool(x)), nil
	}
	return "", fmt.Errorf("json.marshal: map key of type %s has no JSON form", k.Type().TypeName())
}
