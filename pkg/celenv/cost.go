package celenv

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/library"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// MaxRangeSize is the most elements lists.range(n) returns: a larger n is an
// evaluation error. Where nothing tighter is known of n (no literal, no
// size() of something bounded, no schema maximum), the cost estimate of
// lists.range(n) assumes a list this long.
const MaxRangeSize = 1_000_000

// ErrCostLimitExceeded is wrapped by the error of an evaluation that was
// stopped because its cost went over PerCallCostLimit (see EvalError).
var ErrCostLimitExceeded = errors.New("the runtime CEL cost limit was hit")

// EvalError returns the error of an evaluation as callers should report it:
// cel-go's cancellation at the runtime cost limit becomes an error wrapping
// ErrCostLimitExceeded that names the limit; any other error is returned
// unchanged.
func EvalError(err error) error {
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		return fmt.Errorf("%w: the evaluation was stopped at the per-evaluation limit of %d (its input is too large for "+
			"what it computes: bound the lists and strings it iterates, or avoid nested loops)", ErrCostLimitExceeded, PerCallCostLimit)
	}
	return err
}

// CostError reports an estimated worst-case cost above MaxEstimatedCost: an
// error wrapping ErrCostTooHigh that says the estimate and the limit, or nil.
// Compiling does not fail on it: whether such an expression is a warning or
// an error is the caller's choice (kro estimates no cost at all), and every
// evaluation is stopped at PerCallCostLimit whatever the estimate.
func (c *Compiled) CostError() error {
	if c == nil || c.EstimatedCost.Max <= MaxEstimatedCost {
		return nil
	}
	estimate := "unbounded"
	if c.EstimatedCost.Max != math.MaxUint64 {
		estimate = strconv.FormatUint(c.EstimatedCost.Max, 10)
	}
	return fmt.Errorf("%w: the estimated worst-case cost is %s, the limit is %d (bound the lists and strings it "+
		"iterates with maxItems/maxLength and the integers it gives lists.range with maximum, or avoid nested loops)",
		ErrCostTooHigh, estimate, MaxEstimatedCost)
}

// The cost model of cel-go functions whose own estimates know too little.
//
// cel-go's lists.range(n) is bounded only when n is a literal: any other n
// makes the estimate of every expression around it unbounded. rgd bounds n
// by what is known of it, and by MaxRangeSize, which lists.range enforces:
//   - an int literal: its value;
//   - size(x) or x.size(): the size estimate of x (maxItems, maxLength,
//     maxProperties, or the bounds assumed where a schema declares none);
//   - a field of a variable, or of an element iterated from one, whose
//     schema declares maximum (and minimum): that range.
//
// For size() to tell lists.range what it knows, rgd's estimate of size(x)
// carries the size estimate of x as its result size (cel-go leaves it
// unset): for an int the "size" is then the range of its value.

// overloadListsRange is the overload id of cel-go's lists.range(int).
const overloadListsRange = "lists_range"

// sizeOverloads are the overload ids of size(x) and x.size().
var sizeOverloads = []string{
	overloads.SizeString, overloads.SizeBytes, overloads.SizeList, overloads.SizeMap,
	overloads.SizeStringInst, overloads.SizeBytesInst, overloads.SizeListInst, overloads.SizeMapInst,
}

// costOptions installs rgd's estimates of lists.range and size (after the
// libraries that declare them: the last estimate registered for an overload
// is the one used).
func costOptions() cel.EnvOption {
	opts := []checker.CostOption{checker.OverloadCostEstimate(overloadListsRange, estimateRange)}
	for _, id := range sizeOverloads {
		opts = append(opts, checker.OverloadCostEstimate(id, estimateSize))
	}
	return cel.CostEstimatorOptions(opts...)
}

// estimateSize is size(x): a cost of 1, as cel-go counts it, and the size
// estimate of x as the range of the result.
func estimateSize(est checker.CostEstimator, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	var of checker.AstNode
	switch {
	case target != nil && len(args) == 0:
		of = *target
	case target == nil && len(args) == 1:
		of = args[0]
	default:
		return nil
	}
	size := sizeOfNode(est, of)
	return &checker.CallEstimate{CostEstimate: checker.FixedCostEstimate(1), ResultSize: &size}
}

// estimateRange is lists.range(n): one per element of the result, plus the
// call and the list's creation (cel-go's formula, which its runtime cost
// tracker follows), for n bounded as the comment of costOptions says.
func estimateRange(est checker.CostEstimator, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if target != nil || len(args) != 1 {
		return nil
	}
	size := rangeBound(est, args[0])
	cost := size.MultiplyByCostFactor(1).Add(checker.FixedCostEstimate(1 + common.ListCreateBaseCost))
	return &checker.CallEstimate{CostEstimate: cost, ResultSize: &size}
}

// rangeBound is the range of the integer n, within 0..MaxRangeSize.
func rangeBound(est checker.CostEstimator, n checker.AstNode) checker.SizeEstimate {
	limit := checker.SizeEstimate{Min: 0, Max: MaxRangeSize}
	bounded := func(s checker.SizeEstimate) checker.SizeEstimate {
		s.Max = min(s.Max, MaxRangeSize)
		s.Min = min(s.Min, s.Max)
		return s
	}
	e := n.Expr()
	switch e.Kind() {
	case ast.LiteralKind:
		if v, ok := e.AsLiteral().(types.Int); ok {
			return bounded(checker.FixedSizeEstimate(uint64(max(v, 0))))
		}
	case ast.CallKind:
		if e.AsCall().FunctionName() == overloads.Size {
			if s := n.ComputedSize(); s != nil {
				return bounded(*s)
			}
		}
	case ast.IdentKind, ast.SelectKind:
		if c, ok := est.(*costEstimator); ok {
			if s, ok := c.env.intRange(n.Path()); ok {
				return bounded(s)
			}
		}
	}
	return limit
}

// sizeOfNode is the size estimate of a node: the checker's, else the
// estimator's, else unknown.
func sizeOfNode(est checker.CostEstimator, n checker.AstNode) checker.SizeEstimate {
	if s := n.ComputedSize(); s != nil {
		return *s
	}
	if s := est.EstimateSize(n); s != nil {
		return *s
	}
	return checker.UnknownSizeEstimate()
}

// costEstimator is the estimator of an Env's expressions: the Kubernetes
// libraries' estimates with rgd's sizes, and the Env, whose schemas bound
// the integers given to lists.range.
type costEstimator struct {
	*library.CostEstimator
	env *Env
}

func (e *Env) costEstimator() *costEstimator {
	return &costEstimator{CostEstimator: &library.CostEstimator{SizeEstimator: &sizeEstimator{env: e}}, env: e}
}

// intRange returns the range of values the schema allows the integer at
// path (a variable and the fields and @items/@values steps below it): its
// minimum and maximum, with negative values counted as 0. ok is false when
// the path is not an integer of a schema, or when the schema declares no
// maximum.
func (e *Env) intRange(path []string) (checker.SizeEstimate, bool) {
	if len(path) == 0 {
		return checker.SizeEstimate{}, false
	}
	v, ok := e.vars[path[0]]
	if !ok || v.schema == nil {
		return checker.SizeEstimate{}, false
	}
	s := v.schema
	for _, step := range path[1:] {
		if s = schemaStep(s, step); s == nil {
			return checker.SizeEstimate{}, false
		}
	}
	if len(s.Type) != 1 || s.Type[0] != "integer" || s.Maximum == nil {
		return checker.SizeEstimate{}, false
	}
	clamp := func(f float64) uint64 {
		switch {
		case f <= 0 || math.IsNaN(f):
			return 0
		case f >= float64(MaxRangeSize):
			return MaxRangeSize
		}
		return uint64(f)
	}
	out := checker.SizeEstimate{Max: clamp(math.Floor(*s.Maximum))}
	if s.Minimum != nil {
		out.Min = min(clamp(math.Ceil(*s.Minimum)), out.Max)
	}
	return out, true
}

// schemaStep is the schema one step of a cost path below s, or nil.
func schemaStep(s *spec.Schema, step string) *spec.Schema {
	switch {
	case step == "@items":
		if s.Items != nil {
			return s.Items.Schema
		}
		return nil
	case step == "@keys":
		return nil
	}
	if p, ok := s.Properties[step]; ok {
		return &p
	}
	if name, ok := apiservercel.Unescape(step); ok {
		if p, ok := s.Properties[name]; ok {
			return &p
		}
	}
	if s.AdditionalProperties != nil {
		return s.AdditionalProperties.Schema
	}
	return nil
}
