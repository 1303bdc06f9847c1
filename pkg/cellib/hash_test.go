package cellib

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHash(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name, expr, want string
		vars             map[string]any
	}{
		{"fnv64a empty", "hash.fnv64a('')", "cbf29ce484222325", nil},
		{"fnv64a ascii", "hash.fnv64a('a')", "af63dc4c8601ec8c", nil},
		{"sha256 empty", "hash.sha256('')", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", nil},
		{"sha256 abc", "hash.sha256('abc')", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", nil},
		{"md5 empty", "hash.md5('')", "d41d8cd98f00b204e9800998ecf8427e", nil},
		{"md5 abc", "hash.md5('abc')", "900150983cd24fb0d6963f7d28e17f72", nil},
		// "é" is hashed as its UTF-8 bytes c3 a9.
		{"sha256 unicode", "hash.sha256('é')", hex.EncodeToString(sha256Bytes("\xc3\xa9")), nil},
		{"from variable", "hash.md5(s)", "900150983cd24fb0d6963f7d28e17f72", map[string]any{"s": "abc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustEval(t, env, tc.expr, tc.vars)
			assert.Equal(t, tc.want, hex.EncodeToString(got.([]byte)))
		})
	}
}

func TestHashDigestSizes(t *testing.T) {
	env := newTestEnv(t)
	for expr, n := range map[string]int{
		"size(hash.fnv64a(s))": 8, "size(hash.sha256(s))": 32, "size(hash.md5(s))": 16,
	} {
		assert.Equal(t, int64(n), mustEval(t, env, expr, map[string]any{"s": "x"}), expr)
	}
}

func TestHashWrongTypes(t *testing.T) {
	env := newTestEnv(t)
	for _, expr := range []string{"hash.sha256(1)", "hash.md5(b'x')", "hash.fnv64a()", "hash.sha256('a', 'b')"} {
		_, err := compile(t, env, expr)
		assert.Contains(t, err, "found no matching overload", expr)
	}
}

func TestHashCostGrowsWithInput(t *testing.T) {
	env := newTestEnv(t)
	_, small, err := eval(t, env, "hash.sha256(s)", map[string]any{"s": ""})
	require.NoError(t, err)
	_, large, err := eval(t, env, "hash.sha256(s)", map[string]any{"s": strings.Repeat("a", 10000)})
	require.NoError(t, err)
	assert.Equal(t, uint64(1000), large-small, "0.1 per byte")
}
