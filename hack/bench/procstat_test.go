package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadProc(t *testing.T) {
	s, err := ReadProc("testdata/proc", 4242)
	require.NoError(t, err)
	assert.Equal(t, uint64(81920*1024), s.RSS)
	assert.Equal(t, uint64(102400*1024), s.HWM)
	// utime 1234 + stime 567 clock ticks at 100 Hz.
	assert.InDelta(t, 18.01, s.CPU, 1e-9)
	assert.Equal(t, "80.0 MiB", MiB(s.RSS))

	name, err := ProcName("testdata/proc", 4242)
	require.NoError(t, err)
	assert.Equal(t, "rgd", name)
}

func TestReadProcMissing(t *testing.T) {
	_, err := ReadProc("testdata/proc", 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "process 1")
}

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc("/proc", os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, s.RSS)
	assert.GreaterOrEqual(t, s.HWM, s.RSS)
}
