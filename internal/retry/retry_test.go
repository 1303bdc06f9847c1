package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUntilRetriesUntilSuccess(t *testing.T) {
	calls := 0
	err := Until(context.Background(), logr.Discard(), "step", time.Millisecond, func(context.Context) error {
		calls++
		if calls < 4 {
			return errors.New("blip")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 4, calls)
}

func TestUntilStopsOnPermanent(t *testing.T) {
	calls := 0
	bad := errors.New("bad flag")
	err := Until(context.Background(), logr.Discard(), "step", time.Millisecond, func(context.Context) error {
		calls++
		return Permanent(bad)
	})
	assert.ErrorIs(t, err, bad)
	assert.Equal(t, 1, calls)
}

func TestUntilStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Until(ctx, logr.Discard(), "step", time.Millisecond, func(context.Context) error {
		calls++
		if calls == 3 {
			cancel()
		}
		return errors.New("still down")
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "still down", "the last failure is kept")
	assert.Equal(t, 3, calls)
}
