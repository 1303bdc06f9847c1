package cellib

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// Map function names and overload ids.
const (
	FunctionMerge     = "merge"
	FunctionDeepMerge = "deepMerge"
	OverloadMerge     = "map_merge_map"
	OverloadDeepMerge = "dyn_deepMerge_dyn"
	mapsLibraryName   = "rgd.maps"
)

// Maps returns the map merging library:
//
//	<map(K, V)>.merge(map(K, V)) -> map(K, V)
//	<dyn>.deepMerge(dyn) -> dyn
//
// merge is shallow: the result holds every key of both maps, and the argument's
// value wins on a shared key. Both maps must have the same key and value types
// (use dyn(...) to merge maps of different types).
//
// deepMerge merges recursively: where both sides hold a map under the same key the
// maps are merged, anything else (lists, scalars, null, a map meeting a non-map) is
// replaced by the argument's value. When the receiver and the argument are not both
// maps the result is the argument.
//
// Cost: merge is 1 + the number of entries of both maps; deepMerge is 1 + the number
// of entries and elements at every level of both values.
func Maps(_ ...Option) cel.EnvOption {
	return cel.Lib(mapsLib{})
}

type mapsLib struct{}

func (mapsLib) LibraryName() string { return mapsLibraryName }

func (mapsLib) CompileOptions() []cel.EnvOption {
	k := cel.TypeParamType("K")
	v := cel.TypeParamType("V")
	mapKV := cel.MapType(k, v)
	return []cel.EnvOption{
		cel.Function(FunctionMerge,
			cel.MemberOverload(OverloadMerge, []*cel.Type{mapKV, mapKV}, mapKV,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					am, ok := a.(traits.Mapper)
					if !ok {
						return types.MaybeNoSuchOverloadErr(a)
					}
					bm, ok := b.(traits.Mapper)
					if !ok {
						return types.MaybeNoSuchOverloadErr(b)
					}
					return shallowMerge(am, bm)
				}))),
		cel.Function(FunctionDeepMerge,
			cel.MemberOverload(OverloadDeepMerge, []*cel.Type{cel.DynType, cel.DynType}, cel.DynType,
				cel.BinaryBinding(deepMerge))),
		cel.CostEstimatorOptions(
			checker.OverloadCostEstimate(OverloadMerge, estimateMerge),
			checker.OverloadCostEstimate(OverloadDeepMerge, estimateMerge),
		),
	}
}

func (mapsLib) ProgramOptions() []cel.ProgramOption {
	return []cel.ProgramOption{cel.CostTrackerOptions(
		interpreter.OverloadCostTracker(OverloadMerge, func(args []ref.Val, _ ref.Val) *uint64 {
			c := uint64(1)
			for _, a := range args {
				c = safeAdd(c, sizeOf(a))
			}
			return ptr(c)
		}),
		interpreter.OverloadCostTracker(OverloadDeepMerge, func(args []ref.Val, _ ref.Val) *uint64 {
			c := uint64(1)
			for _, a := range args {
				c = safeAdd(c, countNodes(a))
			}
			return ptr(c)
		}),
	)}
}

// estimateMerge charges 1 + the entries of both sides. For deepMerge only the top
// level sizes are known statically; nested content is charged at runtime.
func estimateMerge(e checker.CostEstimator, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if target == nil || len(args) != 1 {
		return nil
	}
	a := argSize(e, *target)
	b := argSize(e, args[0])
	cost := checker.CostEstimate{Min: 1 + a.Min + b.Min, Max: safeAdd(1, safeAdd(a.Max, b.Max))}
	lo := a.Min
	if b.Min > lo {
		lo = b.Min
	}
	size := checker.SizeEstimate{Min: lo, Max: safeAdd(a.Max, b.Max)}
	return &checker.CallEstimate{CostEstimate: cost, ResultSize: &size}
}

func shallowMerge(a, b traits.Mapper) ref.Val {
	out := make(map[ref.Val]ref.Val, int(sizeOf(a)+sizeOf(b)))
	for it := a.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		out[k] = a.Get(k)
	}
	for it := b.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		out[k] = b.Get(k)
	}
	return types.NewRefValMap(types.DefaultTypeAdapter, out)
}

func deepMerge(a, b ref.Val) ref.Val {
	if types.IsError(a) {
		return a
	}
	if types.IsError(b) {
		return b
	}
	am, ok1 := a.(traits.Mapper)
	bm, ok2 := b.(traits.Mapper)
	if !ok1 || !ok2 {
		return b
	}
	out := make(map[ref.Val]ref.Val, int(sizeOf(am)+sizeOf(bm)))
	for it := am.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		out[k] = am.Get(k)
	}
	for it := bm.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		bv := bm.Get(k)
		if av, found := out[k]; found {
			merged := deepMerge(av, bv)
			if types.IsError(merged) {
				return merged
			}
			out[k] = merged
			continue
		}
		out[k] = bv
	}
	return types.NewRefValMap(types.DefaultTypeAdapter, out)
}

// countNodes counts the entries and elements of a value at every level (1 for a
// scalar).
func countNodes(v ref.Val) uint64 {
	switch x := v.(type) {
	case traits.Mapper:
		n := uint64(1)
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			n = safeAdd(n, countNodes(x.Get(k)))
		}
		return n
	case traits.Lister:
		n := uint64(1)
		for it := x.Iterator(); it.HasNext() == types.True; {
			n = safeAdd(n, countNodes(it.Next()))
		}
		return n
	}
	return 1
}
