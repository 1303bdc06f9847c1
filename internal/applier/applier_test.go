package applier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPollRetriesUntilCheckPasses(t *testing.T) {
	calls := 0
	err := poll(context.Background(), time.Minute, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
}

func TestPollGivesUpWithTheLastError(t *testing.T) {
	err := poll(context.Background(), 50*time.Millisecond, func() error { return errors.New("kind not served") })
	assert.EqualError(t, err, "gave up after 50ms: kind not served")
}

func TestPollStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := poll(ctx, time.Minute, func() error { return errors.New("kind not served") })
	assert.ErrorContains(t, err, "kind not served")
}
