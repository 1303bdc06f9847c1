package cellib

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	"github.com/google/cel-go/parser"
)

// Condition function names and overload ids.
const (
	// RuntimeName is the receiver the runtime.* functions are written on.
	RuntimeName           = "runtime"
	FunctionNewCondition  = "runtime.newCondition"
	FunctionCondition     = "runtime.condition"
	OverloadNewCondition  = "runtime_newCondition_string_string_string_string"
	OverloadCondition     = "runtime_condition_dyn_string"
	conditionsLibraryName = "rgd.conditions"

	// ConditionKeyType and the other ConditionKey constants are the keys of a
	// condition value.
	ConditionKeyType    = "type"
	ConditionKeyStatus  = "status"
	ConditionKeyReason  = "reason"
	ConditionKeyMessage = "message"

	// ConditionTrue and the other statuses are the values a condition status takes.
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"

	// assumedConditions bounds the static cost estimate of runtime.condition, whose
	// object has no known size: objects rarely carry more conditions than this.
	assumedConditions = 100
)

// ConditionType is the CEL type of a condition value: a map with the string keys
// type, status, reason and message.
var ConditionType = cel.MapType(cel.StringType, cel.StringType)

var conditionKeys = []string{ConditionKeyType, ConditionKeyStatus, ConditionKeyReason, ConditionKeyMessage}

// IsValidConditionStatus reports whether s is True, False or Unknown.
func IsValidConditionStatus(s string) bool {
	return s == ConditionTrue || s == ConditionFalse || s == ConditionUnknown
}

// Conditions returns the condition library:
//
//	runtime.newCondition({type: T, status: S, reason: R, message: M}) -> map(string, string)
//	runtime.condition(dyn obj, string type) -> map(string, string)
//
// runtime.newCondition is a parse-time macro. Its argument must be a map literal
// whose keys are the bare identifiers type, status, reason and message; type and
// status are required, reason and message default to "". Unknown, duplicate, quoted
// or computed keys are parse errors, as is a literal type that is empty or a literal
// status other than True, False or Unknown; all problems of one call are reported in
// one error. The macro expands to runtime.newCondition(type, status, reason, message),
// whose four arguments must type-check as strings and whose values are checked again
// at evaluation time. The result is a map with exactly the four keys.
//
// runtime.condition reads obj.status.conditions[] and returns the first entry whose
// type equals the argument, as a map with the four keys (missing or non-string fields
// read as ""). When obj has no status, no conditions or no matching entry the result
// is {type: <type>, status: "Unknown", reason: "", message: ""}, never an error, so
// `runtime.condition(x, 'Ready').status == 'True'` is safe. obj itself must be a map
// or object, and status / conditions, when present, a map / a list.
//
// Neither function needs a `runtime` variable: both are resolved as namespaced
// functions. Cost: newCondition 1; condition 1 + the number of conditions scanned
// (estimated statically as at most 100).
func Conditions(_ ...Option) cel.EnvOption {
	return cel.Lib(conditionsLib{})
}

type conditionsLib struct{}

func (conditionsLib) LibraryName() string { return conditionsLibraryName }

func (conditionsLib) CompileOptions() []cel.EnvOption {
	str := cel.StringType
	return []cel.EnvOption{
		cel.Macros(cel.ReceiverMacro("newCondition", 1, expandNewCondition)),
		cel.Function(FunctionNewCondition,
			cel.Overload(OverloadNewCondition, []*cel.Type{str, str, str, str}, ConditionType,
				cel.FunctionBinding(newCondition))),
		cel.Function(FunctionCondition,
			cel.Overload(OverloadCondition, []*cel.Type{cel.DynType, str}, ConditionType,
				cel.BinaryBinding(findCondition))),
		cel.CostEstimatorOptions(
			checker.OverloadCostEstimate(OverloadCondition,
				func(checker.CostEstimator, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
					return &checker.CallEstimate{
						CostEstimate: checker.CostEstimate{Min: 1, Max: 1 + assumedConditions},
						ResultSize:   fixedSize(uint64(len(conditionKeys))),
					}
				}),
		),
	}
}

func (conditionsLib) ProgramOptions() []cel.ProgramOption {
	return []cel.ProgramOption{cel.CostTrackerOptions(
		interpreter.OverloadCostTracker(OverloadCondition, func(args []ref.Val, _ ref.Val) *uint64 {
			if len(args) == 0 {
				return ptr(1)
			}
			list, _ := conditionsOf(args[0])
			if list == nil {
				return ptr(1)
			}
			return ptr(safeAdd(1, sizeOf(list)))
		}),
	)}
}

// expandNewCondition rewrites runtime.newCondition({type: t, status: s, ...}) into
// the global call runtime.newCondition(t, s, reason, message).
func expandNewCondition(eh parser.ExprHelper, target ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
	if target == nil || target.Kind() != ast.IdentKind || target.AsIdent() != RuntimeName {
		return nil, nil // not ours: leave x.newCondition(y) alone
	}
	arg := args[0]
	if arg.Kind() != ast.MapKind {
		return nil, eh.NewError(arg.ID(),
			"runtime.newCondition: the argument must be a map literal such as {type: 'Ready', status: 'True', reason: 'Done', message: '...'}")
	}
	var problems []string
	errID := int64(0)
	problem := func(id int64, format string, a ...any) {
		if errID == 0 {
			errID = id
		}
		problems = append(problems, fmt.Sprintf(format, a...))
	}
	values := map[string]ast.Expr{}
	quoted := map[string]bool{} // condition keys written as strings: reported once
	for _, entry := range arg.AsMap().Entries() {
		e := entry.AsMapEntry()
		key := e.Key()
		if key.Kind() != ast.IdentKind {
			problem(key.ID(), "keys must be bare identifiers (type, status, reason, message), not %s", describeKey(key))
			if key.Kind() == ast.LiteralKind {
				if s, ok := key.AsLiteral().(types.String); ok {
					quoted[string(s)] = true
				}
			}
			continue
		}
		name := key.AsIdent()
		if !isConditionKey(name) {
			problem(key.ID(), "unknown key %q (allowed: type, status, reason, message)", name)
			continue
		}
		if e.IsOptional() {
			problem(key.ID(), "key %q cannot be optional", name)
		}
		if _, dup := values[name]; dup {
			problem(key.ID(), "duplicate key %q", name)
			continue
		}
		values[name] = e.Value()
		checkLiteralValue(name, e.Value(), problem)
	}
	for _, req := range []string{ConditionKeyType, ConditionKeyStatus} {
		if _, ok := values[req]; !ok && !quoted[req] {
			problem(arg.ID(), "missing required key %q", req)
		}
	}
	if len(problems) > 0 {
		return nil, eh.NewError(errID, "runtime.newCondition: "+strings.Join(problems, "; "))
	}
	callArgs := make([]ast.Expr, len(conditionKeys))
	for i, k := range conditionKeys {
		if v, ok := values[k]; ok {
			callArgs[i] = v
		} else {
			callArgs[i] = eh.NewLiteral(types.String(""))
		}
	}
	return eh.NewCall(FunctionNewCondition, callArgs...), nil
}

func describeKey(key ast.Expr) string {
	if key.Kind() == ast.LiteralKind {
		if s, ok := key.AsLiteral().(types.String); ok {
			return fmt.Sprintf("the quoted key %q", string(s))
		}
		return "a literal key"
	}
	return "a computed key"
}

func isConditionKey(name string) bool {
	for _, k := range conditionKeys {
		if k == name {
			return true
		}
	}
	return false
}

// checkLiteralValue validates values written as literals; computed values are
// checked when the condition is evaluated.
func checkLiteralValue(key string, v ast.Expr, problem func(int64, string, ...any)) {
	if v.Kind() != ast.LiteralKind {
		return
	}
	s, ok := v.AsLiteral().(types.String)
	if !ok {
		problem(v.ID(), "%s must be a string, got %s", key, v.AsLiteral().Type().TypeName())
		return
	}
	switch key {
	case ConditionKeyType:
		if s == "" {
			problem(v.ID(), "type must not be empty")
		}
	case ConditionKeyStatus:
		if !IsValidConditionStatus(string(s)) {
			problem(v.ID(), "status must be one of True, False, Unknown, got %q", string(s))
		}
	}
}

func newCondition(args ...ref.Val) ref.Val {
	vals := make([]string, len(conditionKeys))
	for i := range conditionKeys {
		if i >= len(args) {
			return types.NewErr("runtime.newCondition: expected %d arguments, got %d", len(conditionKeys), len(args))
		}
		s, ok := args[i].(types.String)
		if !ok {
			if types.IsError(args[i]) {
				return args[i]
			}
			return types.NewErr("runtime.newCondition: %s must be a string, got %s", conditionKeys[i], args[i].Type().TypeName())
		}
		vals[i] = string(s)
	}
	if vals[0] == "" {
		return types.NewErr("runtime.newCondition: type must not be empty")
	}
	if !IsValidConditionStatus(vals[1]) {
		return types.NewErr("runtime.newCondition: status must be one of True, False, Unknown, got %q", vals[1])
	}
	return conditionVal(vals[0], vals[1], vals[2], vals[3])
}

func conditionVal(typ, status, reason, message string) ref.Val {
	return types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string{
		ConditionKeyType:    typ,
		ConditionKeyStatus:  status,
		ConditionKeyReason:  reason,
		ConditionKeyMessage: message,
	})
}

func findCondition(obj, typ ref.Val) ref.Val {
	want, ok := typ.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(typ)
	}
	list, errVal := conditionsOf(obj)
	if errVal != nil {
		return errVal
	}
	if list != nil {
		for it := list.Iterator(); it.HasNext() == types.True; {
			m, ok := it.Next().(traits.Mapper)
			if !ok {
				continue
			}
			if readString(m, ConditionKeyType) == string(want) {
				return conditionVal(string(want), readString(m, ConditionKeyStatus),
					readString(m, ConditionKeyReason), readString(m, ConditionKeyMessage))
			}
		}
	}
	return conditionVal(string(want), ConditionUnknown, "", "")
}

// conditionsOf returns obj.status.conditions, nil when absent, or a CEL error when
// obj, status or conditions has the wrong shape.
func conditionsOf(obj ref.Val) (traits.Lister, ref.Val) {
	if types.IsError(obj) {
		return nil, obj
	}
	m, ok := obj.(traits.Mapper)
	if !ok {
		return nil, types.NewErr("runtime.condition: the object must be a map or object, got %s", obj.Type().TypeName())
	}
	status, found := m.Find(types.String("status"))
	if !found || status == types.NullValue {
		return nil, nil
	}
	sm, ok := status.(traits.Mapper)
	if !ok {
		return nil, types.NewErr("runtime.condition: status must be a map or object, got %s", status.Type().TypeName())
	}
	conds, found := sm.Find(types.String("conditions"))
	if !found || conds == types.NullValue {
		return nil, nil
	}
	l, ok := conds.(traits.Lister)
	if !ok {
		return nil, types.NewErr("runtime.condition: status.conditions must be a list, got %s", conds.Type().TypeName())
	}
	return l, nil
}

func readString(m traits.Mapper, key string) string {
	v, found := m.Find(types.String(key))
	if !found {
		return ""
	}
	s, _ := v.(types.String)
	return string(s)
}
