package cellib

import (
	"crypto/md5" //nolint:gosec // md5 is offered for content fingerprints, not security.
	"crypto/sha256"
	"hash"
	"hash/fnv"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// Hash function overload ids.
const (
	OverloadHashFNV64a  = "hash_fnv64a_string"
	OverloadHashSHA256  = "hash_sha256_string"
	OverloadHashMD5     = "hash_md5_string"
	FunctionHashFNV64a  = "hash.fnv64a"
	FunctionHashSHA256  = "hash.sha256"
	FunctionHashMD5     = "hash.md5"
	hashLibraryName     = "rgd.hash"
	hashFNV64aDigestLen = 8
)

// Hash returns the hash library:
//
//	hash.fnv64a(string) -> bytes  // 8 bytes, big endian FNV-1a 64
//	hash.sha256(string) -> bytes  // 32 bytes
//	hash.md5(string) -> bytes     // 16 bytes
//
// The digest is over the UTF-8 bytes of the string. Combine with base64.encode or
// string(bytes) helpers from the environment to print it. Cost: 1 + 0.1 per input
// byte.
func Hash(_ ...Option) cel.EnvOption {
	return cel.Lib(hashLib{})
}

type hashLib struct{}

func (hashLib) LibraryName() string { return hashLibraryName }

type hashDef struct {
	fn, overload string
	newHash      func() hash.Hash
	size         uint64
}

var hashDefs = []hashDef{
	{FunctionHashFNV64a, OverloadHashFNV64a, func() hash.Hash { return fnv.New64a() }, hashFNV64aDigestLen},
	{FunctionHashSHA256, OverloadHashSHA256, sha256.New, sha256.Size},
	{FunctionHashMD5, OverloadHashMD5, md5.New, md5.Size},
}

func (hashLib) CompileOptions() []cel.EnvOption {
	var opts []cel.EnvOption
	var est []checker.CostOption
	for _, d := range hashDefs {
		newHash := d.newHash
		opts = append(opts, cel.Function(d.fn,
			cel.Overload(d.overload, []*cel.Type{cel.StringType}, cel.BytesType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(v)
					}
					h := newHash()
					_, _ = h.Write([]byte(s))
					return types.Bytes(h.Sum(nil))
				}))))
		size := d.size
		est = append(est, checker.OverloadCostEstimate(d.overload,
			func(e checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
				return &checker.CallEstimate{
					CostEstimate: textEstimate(argSize(e, args[0])),
					ResultSize:   fixedSize(size),
				}
			}))
	}
	return append(opts, cel.CostEstimatorOptions(est...))
}

func (hashLib) ProgramOptions() []cel.ProgramOption {
	var trackers []interpreter.CostTrackerOption
	for _, d := range hashDefs {
		trackers = append(trackers, interpreter.OverloadCostTracker(d.overload, trackText(0)))
	}
	return []cel.ProgramOption{cel.CostTrackerOptions(trackers...)}
}

// trackText charges 1 plus 0.1 per byte of argument i.
func trackText(i int) interpreter.FunctionTracker {
	return func(args []ref.Val, _ ref.Val) *uint64 {
		if i >= len(args) {
			return ptr(1)
		}
		return ptr(1 + textCost(sizeOf(args[i])))
	}
}
