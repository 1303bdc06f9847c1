package cellib

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCostEstimates pins the static cost of each function over inputs of known
// size (list and map literals cost 10 and 30 each in cel-go; variables 1).
func TestCostEstimates(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		expr     string
		min, max uint64
	}{
		{`hash.sha256('0123456789')`, 2, 2},
		{`lists.setAtIndex([1, 2, 3], 0, 1)`, 10 + 4, 10 + 4},
		{`lists.insertAtIndex([1, 2, 3], 0, 1).size()`, 10 + 4 + 1, 10 + 4 + 1},
		{`lists.removeAtIndex([1, 2, 3], 0)`, 10 + 4, 10 + 4},
		{`{'a': 1}.merge({'b': 2, 'c': 3})`, 30 + 30 + 4, 30 + 30 + 4},
		{`{'a': 1}.deepMerge({'b': 2})`, 30 + 30 + 3, 30 + 30 + 3},
		{`runtime.newCondition({type: 'A', status: 'True'})`, 1, 1},
		{`omit()`, 1, 1},
		{`random.seededInt(0, 10, '0123456789')`, 2, 2},
	}
	for _, tc := range tests {
		ast, cerr := compile(t, env, tc.expr)
		require.Empty(t, cerr, tc.expr)
		est, err := env.EstimateCost(ast, unknownSizes{})
		require.NoError(t, err, tc.expr)
		assert.Equal(t, tc.min, est.Min, "min of %s", tc.expr)
		assert.Equal(t, tc.max, est.Max, "max of %s", tc.expr)
	}
}

func TestCostEstimatesUnknownSizes(t *testing.T) {
	env := newTestEnv(t)
	// Inputs of unknown size give unbounded estimates where no cap applies, as for
	// cel-go's own functions; the environment bounds them with maxLength/maxItems.
	for _, expr := range []string{`hash.sha256(s)`, `lists.setAtIndex(l, 0, 1)`, `m.merge(m)`, `d.deepMerge(e)`} {
		ast, cerr := compile(t, env, expr)
		require.Empty(t, cerr)
		est, err := env.EstimateCost(ast, unknownSizes{})
		require.NoError(t, err)
		assert.Greater(t, est.Max, uint64(math.MaxUint64/100), expr)
	}
}

func TestSafeAdd(t *testing.T) {
	assert.Equal(t, uint64(3), safeAdd(1, 2))
	assert.Equal(t, uint64(math.MaxUint64), safeAdd(math.MaxUint64, 1))
}
