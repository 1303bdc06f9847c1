package cellib

import (
	"math"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Cost model shared by the libraries. A call is charged 1 plus a term linear in
// the size of the data it walks:
//   - text (strings, JSON): StringTraversalCostFactor (0.1) per byte, the factor
//     cel-go and Kubernetes use for string scans;
//   - lists and maps: 1 per element copied or visited.
// Static estimates use the same formulas over the size estimates the checker
// knows; where an input has no known bound the library's own caps give one
// (MaxSeededStringLength, the JSON byte limit).

const traversalFactor = common.StringTraversalCostFactor

// textCost is the charge for walking n bytes of text.
func textCost(n uint64) uint64 {
	return uint64(math.Ceil(float64(n) * traversalFactor))
}

func ptr(v uint64) *uint64 { return &v }

// sizeOf returns the CEL size of a value: bytes of a string or bytes value,
// elements of a list or map, 1 otherwise.
func sizeOf(v ref.Val) uint64 {
	switch x := v.(type) {
	case types.String:
		return uint64(len(x))
	case types.Bytes:
		return uint64(len(x))
	case traits.Sizer:
		if n, ok := x.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
		return 0
	}
	return 1
}

// argSize returns the checker's size estimate for an argument, unknown when it
// has none.
func argSize(est checker.CostEstimator, node checker.AstNode) checker.SizeEstimate {
	if s := node.ComputedSize(); s != nil {
		return *s
	}
	if s := est.EstimateSize(node); s != nil {
		return *s
	}
	return checker.UnknownSizeEstimate()
}

// capped bounds a size estimate from above by limit.
func capped(s checker.SizeEstimate, limit uint64) checker.SizeEstimate {
	if s.Max > limit {
		s.Max = limit
	}
	if s.Min > s.Max {
		s.Min = s.Max
	}
	return s
}

// textEstimate is the estimate for walking a text of the given size.
func textEstimate(s checker.SizeEstimate) checker.CostEstimate {
	return checker.CostEstimate{Min: 1 + textCost(s.Min), Max: safeAdd(1, textCost(s.Max))}
}

func safeAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func fixedSize(n uint64) *checker.SizeEstimate {
	s := checker.FixedSizeEstimate(n)
	return &s
}
