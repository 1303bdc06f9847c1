package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBytesPerInstance(t *testing.T) {
	const mib = 1 << 20
	assert.Equal(t, "10.0 KiB; 5.0 KiB above the 50.0 MiB with no instance", bytesPerInstance(100*mib, 50*mib, 10240))
	assert.Equal(t, "10.0 KiB", bytesPerInstance(100*mib, 0, 10240), "no figure with no instance")
	assert.Equal(t, "10.0 KiB", bytesPerInstance(100*mib, 120*mib, 10240), "less than with no instance: only the first figure")
}
