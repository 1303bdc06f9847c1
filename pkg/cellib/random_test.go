package cellib

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

type randomGolden struct {
	SeededString []stringCase `json:"seededString"`
	KroCompat    []stringCase `json:"kroCompatibleSeededString"`
	SeededInt    []intCase    `json:"seededInt"`
}

type stringCase struct {
	Length int64  `json:"length"`
	Seed   string `json:"seed"`
	Value  string `json:"value"`
}

type intCase struct {
	Min   int64  `json:"min"`
	Max   int64  `json:"max"`
	Seed  string `json:"seed"`
	Value int64  `json:"value"`
}

// TestRandomGolden pins the output of the random functions: changing it would
// rename resources and rotate secrets of running instances. Regenerate with
// `go test ./pkg/cellib -run TestRandomGolden -update` only on purpose.
func TestRandomGolden(t *testing.T) {
	seeds := []string{"", "seed", "2f6c4b1e-0d1a-4c8e-9b7a-3e5f6a7b8c9d", "héllo ✓ 日本"}
	var got randomGolden
	for _, seed := range seeds {
		for _, n := range []int64{1, 8, 9, 10, 32, 40} {
			env := newTestEnv(t)
			v := mustEval(t, env, "random.seededString(i, s)", map[string]any{"i": n, "s": seed})
			got.SeededString = append(got.SeededString, stringCase{n, seed, v.(string)})
			compat := newTestEnv(t, KroCompatibleSeededString(true))
			cv := mustEval(t, compat, "random.seededString(i, s)", map[string]any{"i": n, "s": seed})
			got.KroCompat = append(got.KroCompat, stringCase{n, seed, cv.(string)})
		}
		for _, r := range [][2]int64{{0, 1}, {0, 10}, {30000, 32768}, {-5, 5}, {math.MinInt64, math.MaxInt64}} {
			expr := fmt.Sprintf("random.seededInt(%d, %d, s)", r[0], r[1])
			v := mustEval(t, newTestEnv(t), expr, map[string]any{"s": seed})
			got.SeededInt = append(got.SeededInt, intCase{r[0], r[1], seed, v.(int64)})
		}
	}
	path := filepath.Join("testdata", "random.golden.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var want randomGolden
	require.NoError(t, json.Unmarshal(b, &want))
	assert.Equal(t, want, got)
}

// kroChar is the documented derivation of character i < 8, shared with kro:
// word i of SHA-256(seed), big endian, modulo 36.
func kroChar(seed string, i int) byte {
	sum := sha256.Sum256([]byte(seed))
	return seededAlphabet[binary.BigEndian.Uint32(sum[i*4:])%36]
}

func TestSeededStringMatchesKroPrefix(t *testing.T) {
	for _, seed := range []string{"", "a", "uid-1234", "日本"} {
		def, err := SeededString(40, seed, false)
		require.NoError(t, err)
		compat, err := SeededString(40, seed, true)
		require.NoError(t, err)
		for i := range 8 {
			assert.Equal(t, kroChar(seed, i), def[i], "seed %q char %d", seed, i)
		}
		assert.Equal(t, def[:8], compat[:8])
		// kro's variant repeats every 8 characters; the default does not.
		assert.Equal(t, strings.Repeat(compat[:8], 5), compat)
		assert.NotEqual(t, def[:8], def[8:16])
	}
}

func TestSeededStringProperties(t *testing.T) {
	env := newTestEnv(t)
	for _, n := range []int64{1, 7, 8, 9, 63, 64, 65, 1000, MaxSeededStringLength} {
		v := mustEval(t, env, "random.seededString(i, s)", map[string]any{"i": n, "s": "seed"}).(string)
		assert.Len(t, v, int(n))
		assert.Empty(t, strings.Trim(v, seededAlphabet), "alphabet [0-9a-z]")
		// A shorter request is a prefix of a longer one.
		short := mustEval(t, env, "random.seededString(1, s)", map[string]any{"s": "seed"}).(string)
		assert.True(t, strings.HasPrefix(v, short))
	}
	a := mustEval(t, env, "random.seededString(16, 'x')", nil)
	b := mustEval(t, env, "random.seededString(16, 'x')", nil)
	c := mustEval(t, env, "random.seededString(16, 'y')", nil)
	assert.Equal(t, a, b, "same seed, same output")
	assert.NotEqual(t, a, c, "different seed, different output")
}

func TestSeededStringErrors(t *testing.T) {
	env := newTestEnv(t)
	for _, n := range []int64{0, -1, MaxSeededStringLength + 1, math.MaxInt64, math.MinInt64} {
		msg := evalErr(t, env, "random.seededString(i, 'seed')", map[string]any{"i": n})
		assert.Equal(t, fmt.Sprintf("random.seededString: length must be between 1 and 4096, got %d", n), msg)
	}
	for _, expr := range []string{"random.seededString('1', 'seed')", "random.seededString(1, 2)", "random.seededString(1)", "random.seededString(1u, 's')"} {
		_, err := compile(t, env, expr)
		assert.Contains(t, err, "found no matching overload", expr)
	}
}

func TestSeededInt(t *testing.T) {
	env := newTestEnv(t)
	for _, seed := range []string{"", "a", "b", "c", "uid", "日本"} {
		for _, r := range [][2]int64{{0, 1}, {0, 2}, {-3, 3}, {30000, 32768}, {math.MinInt64, math.MaxInt64}, {math.MaxInt64 - 1, math.MaxInt64}} {
			expr := fmt.Sprintf("random.seededInt(%d, %d, s)", r[0], r[1])
			v := mustEval(t, env, expr, map[string]any{"s": seed}).(int64)
			assert.GreaterOrEqual(t, v, r[0])
			assert.Less(t, v, r[1])
			assert.Equal(t, v, mustEval(t, env, expr, map[string]any{"s": seed}), "deterministic")
		}
	}
	assert.Equal(t, int64(0), mustEval(t, env, "random.seededInt(0, 1, 'anything')", nil))
}

func TestSeededIntErrors(t *testing.T) {
	env := newTestEnv(t)
	assert.Equal(t, "random.seededInt: min (5) must be less than max (5)", evalErr(t, env, "random.seededInt(5, 5, 's')", nil))
	assert.Equal(t, "random.seededInt: min (6) must be less than max (5)", evalErr(t, env, "random.seededInt(6, 5, 's')", nil))
	for _, expr := range []string{"random.seededInt(0, 1.0, 's')", "random.seededInt(0, 1)", "random.seededInt('0', 1, 's')"} {
		_, err := compile(t, env, expr)
		assert.Contains(t, err, "found no matching overload", expr)
	}
}

func TestRandomCost(t *testing.T) {
	env := newTestEnv(t)
	ast, cerr := compile(t, env, "random.seededString(i, 'seed')")
	require.Empty(t, cerr)
	est, err := env.EstimateCost(ast, unknownSizes{})
	require.NoError(t, err)
	assert.LessOrEqual(t, est.Max, uint64(1+1+1+410), "bounded by MaxSeededStringLength")

	ast, cerr = compile(t, env, "random.seededString(20, 'seed')")
	require.Empty(t, cerr)
	est, err = env.EstimateCost(ast, unknownSizes{})
	require.NoError(t, err)
	assert.Equal(t, uint64(1+1+2), est.Max, "literal length")

	_, cost, err := eval(t, env, "random.seededString(20, 'seed')", nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(1+1+2), cost)
}
