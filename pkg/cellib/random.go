package cellib

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// Random function names and overload ids.
const (
	FunctionSeededString = "random.seededString"
	FunctionSeededInt    = "random.seededInt"
	OverloadSeededString = "random_seededString_int_string"
	OverloadSeededInt    = "random_seededInt_int_int_string"
	randomLibraryName    = "rgd.random"
	seededAlphabet       = "0123456789abcdefghijklmnopqrstuvwxyz"
)

// Random returns the deterministic pseudo-random library:
//
//	random.seededString(int length, string seed) -> string
//	random.seededInt(int min, int max, string seed) -> int
//
// Both are pure functions of their arguments. seededString draws characters from
// [0-9a-z]: character i is the big-endian 32-bit word i%8 of a SHA-256 block,
// modulo 36. Block 0 is SHA-256(seed), identical to kro; block k > 0 is
// SHA-256(seed || 0x00 || uint64 big-endian k), so strings longer than 8 characters
// do not repeat (see KroCompatibleSeededString for kro's repeating variant). length
// must be in [1, MaxSeededStringLength]. seededInt returns min + (first 8 bytes of
// SHA-256(seed) as a big-endian uint64) mod (max - min), the same value kro gives;
// min >= max is an error.
//
// Cost: 1 + 0.1 per seed byte, plus 0.1 per generated character.
func Random(opts ...Option) cel.EnvOption {
	return cel.Lib(&randomLib{kroCompat: newConfig(opts).kroCompatStrings})
}

type randomLib struct{ kroCompat bool }

func (*randomLib) LibraryName() string { return randomLibraryName }

func (l *randomLib) CompileOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function(FunctionSeededString,
			cel.Overload(OverloadSeededString, []*cel.Type{cel.IntType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(n, seed ref.Val) ref.Val {
					ni, ok := n.(types.Int)
					if !ok {
						return types.MaybeNoSuchOverloadErr(n)
					}
					s, ok := seed.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(seed)
					}
					out, err := SeededString(int64(ni), string(s), l.kroCompat)
					if err != nil {
						return types.WrapErr(err)
					}
					return types.String(out)
				}))),
		cel.Function(FunctionSeededInt,
			cel.Overload(OverloadSeededInt, []*cel.Type{cel.IntType, cel.IntType, cel.StringType}, cel.IntType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					lo, ok1 := args[0].(types.Int)
					hi, ok2 := args[1].(types.Int)
					s, ok3 := args[2].(types.String)
					if !ok1 || !ok2 || !ok3 {
						return types.NewErr("random.seededInt: expected (int, int, string)")
					}
					out, err := SeededInt(int64(lo), int64(hi), string(s))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.Int(out)
				}))),
		cel.CostEstimatorOptions(
			checker.OverloadCostEstimate(OverloadSeededString,
				func(e checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
					n := checker.SizeEstimate{Min: 1, Max: MaxSeededStringLength}
					if lit, ok := intLiteral(args[0]); ok && lit >= 1 && lit <= MaxSeededStringLength {
						n = checker.FixedSizeEstimate(uint64(lit))
					}
					seed := textEstimate(argSize(e, args[1]))
					cost := checker.CostEstimate{Min: seed.Min + textCost(n.Min), Max: safeAdd(seed.Max, textCost(n.Max))}
					return &checker.CallEstimate{CostEstimate: cost, ResultSize: &n}
				}),
			checker.OverloadCostEstimate(OverloadSeededInt,
				func(e checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
					return &checker.CallEstimate{CostEstimate: textEstimate(argSize(e, args[2]))}
				}),
		),
	}
}

func (*randomLib) ProgramOptions() []cel.ProgramOption {
	return []cel.ProgramOption{cel.CostTrackerOptions(
		interpreter.OverloadCostTracker(OverloadSeededString, func(args []ref.Val, result ref.Val) *uint64 {
			c := uint64(1)
			if len(args) == 2 {
				c += textCost(sizeOf(args[1]))
			}
			if s, ok := result.(types.String); ok {
				c += textCost(uint64(len(s)))
			}
			return ptr(c)
		}),
		interpreter.OverloadCostTracker(OverloadSeededInt, trackText(2)),
	)}
}

func intLiteral(n checker.AstNode) (int64, bool) {
	e := n.Expr()
	if e.Kind() != ast.LiteralKind {
		return 0, false
	}
	i, ok := e.AsLiteral().(types.Int)
	return int64(i), ok
}

// SeededString returns the string random.seededString(length, seed) evaluates to.
// kroCompat selects kro's 8-character-period variant (see KroCompatibleSeededString).
func SeededString(length int64, seed string, kroCompat bool) (string, error) {
	if length <= 0 || length > MaxSeededStringLength {
		return "", fmt.Errorf("random.seededString: length must be between 1 and %d, got %d", MaxSeededStringLength, length)
	}
	out := make([]byte, length)
	block := sha256.Sum256([]byte(seed))
	const wordsPerBlock = sha256.Size / 4
	for i := range out {
		k := i / wordsPerBlock
		if i%wordsPerBlock == 0 && k > 0 && !kroCompat {
			block = counterBlock(seed, uint64(k))
		}
		w := i % wordsPerBlock
		word := binary.BigEndian.Uint32(block[w*4 : w*4+4])
		out[i] = seededAlphabet[word%uint32(len(seededAlphabet))]
	}
	return string(out), nil
}

func counterBlock(seed string, k uint64) [sha256.Size]byte {
	buf := make([]byte, 0, len(seed)+9)
	buf = append(buf, seed...)
	buf = append(buf, 0)
	buf = binary.BigEndian.AppendUint64(buf, k)
	return sha256.Sum256(buf)
}

// SeededInt returns the integer random.seededInt(min, max, seed) evaluates to, in
// [min, max).
func SeededInt(lo, hi int64, seed string) (int64, error) {
	if lo >= hi {
		return 0, fmt.Errorf("random.seededInt: min (%d) must be less than max (%d)", lo, hi)
	}
	sum := sha256.Sum256([]byte(seed))
	v := binary.BigEndian.Uint64(sum[:8])
	span := uint64(hi) - uint64(lo)
	return int64(uint64(lo) + v%span), nil
}
