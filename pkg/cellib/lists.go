package cellib

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// List index function names and overload ids.
const (
	FunctionSetAtIndex    = "lists.setAtIndex"
	FunctionInsertAtIndex = "lists.insertAtIndex"
	FunctionRemoveAtIndex = "lists.removeAtIndex"
	OverloadSetAtIndex    = "lists_setAtIndex_list_int_T"
	OverloadInsertAtIndex = "lists_insertAtIndex_list_int_T"
	OverloadRemoveAtIndex = "lists_removeAtIndex_list_int"
	listsLibraryName      = "rgd.lists"
)

// ListsIndex returns the list editing library (named so as not to clash with
// cel-go's ext.Lists):
//
//	lists.setAtIndex(list(T), int, T) -> list(T)     // replace element i, 0 <= i < size
//	lists.insertAtIndex(list(T), int, T) -> list(T)  // insert before i, 0 <= i <= size (size appends)
//	lists.removeAtIndex(list(T), int) -> list(T)     // drop element i, 0 <= i < size
//
// The input list is never changed; a new list is returned. An index out of range is
// an error naming the index and the size.
//
// Cost: 1 + the size of the list (the copy).
func ListsIndex(_ ...Option) cel.EnvOption {
	return cel.Lib(listsLib{})
}

type listsLib struct{}

func (listsLib) LibraryName() string { return listsLibraryName }

func (listsLib) CompileOptions() []cel.EnvOption {
	t := cel.TypeParamType("T")
	listT := cel.ListType(t)
	return []cel.EnvOption{
		cel.Function(FunctionSetAtIndex,
			cel.Overload(OverloadSetAtIndex, []*cel.Type{listT, cel.IntType, t}, listT,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val { return editList(FunctionSetAtIndex, args) }))),
		cel.Function(FunctionInsertAtIndex,
			cel.Overload(OverloadInsertAtIndex, []*cel.Type{listT, cel.IntType, t}, listT,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val { return editList(FunctionInsertAtIndex, args) }))),
		cel.Function(FunctionRemoveAtIndex,
			cel.Overload(OverloadRemoveAtIndex, []*cel.Type{listT, cel.IntType}, listT,
				cel.BinaryBinding(func(l, i ref.Val) ref.Val { return editList(FunctionRemoveAtIndex, []ref.Val{l, i}) }))),
		cel.CostEstimatorOptions(
			checker.OverloadCostEstimate(OverloadSetAtIndex, estimateListEdit(0)),
			checker.OverloadCostEstimate(OverloadInsertAtIndex, estimateListEdit(1)),
			checker.OverloadCostEstimate(OverloadRemoveAtIndex, estimateListEdit(-1)),
		),
	}
}

func (listsLib) ProgramOptions() []cel.ProgramOption {
	track := func(args []ref.Val, _ ref.Val) *uint64 {
		if len(args) == 0 {
			return ptr(1)
		}
		return ptr(safeAdd(1, sizeOf(args[0])))
	}
	return []cel.ProgramOption{cel.CostTrackerOptions(
		interpreter.OverloadCostTracker(OverloadSetAtIndex, track),
		interpreter.OverloadCostTracker(OverloadInsertAtIndex, track),
		interpreter.OverloadCostTracker(OverloadRemoveAtIndex, track),
	)}
}

func estimateListEdit(delta int) checker.FunctionEstimator {
	return func(e checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
		if len(args) == 0 {
			return nil
		}
		in := argSize(e, args[0])
		out := in
		switch {
		case delta > 0:
			out = checker.SizeEstimate{Min: safeAdd(in.Min, 1), Max: safeAdd(in.Max, 1)}
		case delta < 0 && in.Min > 0:
			out = checker.SizeEstimate{Min: in.Min - 1, Max: in.Max - 1}
		}
		cost := checker.CostEstimate{Min: 1 + in.Min, Max: safeAdd(1, in.Max)}
		return &checker.CallEstimate{CostEstimate: cost, ResultSize: &out}
	}
}

func editList(fn string, args []ref.Val) ref.Val {
	l, ok := args[0].(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[0])
	}
	idx, ok := args[1].(types.Int)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[1])
	}
	size := int64(sizeOf(l))
	i := int64(idx)
	limit := size // exclusive upper bound of a valid index
	if fn == FunctionInsertAtIndex {
		limit = size + 1
	}
	if i < 0 || i >= limit {
		return types.NewErr("%s: index %d out of range for list of size %d (valid: %s)", fn, i, size, validRange(limit))
	}
	out := make([]ref.Val, 0, size+1)
	for j := int64(0); j < size; j++ {
		e := l.Get(types.Int(j))
		switch {
		case j == i && fn == FunctionSetAtIndex:
			out = append(out, args[2])
			continue
		case j == i && fn == FunctionRemoveAtIndex:
			continue
		case j == i && fn == FunctionInsertAtIndex:
			out = append(out, args[2])
		}
		out = append(out, e)
	}
	if fn == FunctionInsertAtIndex && i == size {
		out = append(out, args[2])
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

func validRange(limit int64) string {
	if limit == 0 {
		return "none, the list is empty"
	}
	return fmt.Sprintf("0..%d", limit-1)
}
