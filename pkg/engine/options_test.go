package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/client-go/rest"
)

// TestOptionsRateLimits: the engine's rate limits come from Options, else
// the rest.Config, else the engine's defaults; a negative QPS turns the
// engine's own limit off.
func TestOptionsRateLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      Options
		cfg       rest.Config
		wantQPS   float32
		wantBurst int
	}{
		{"nothing set", Options{}, rest.Config{}, DefaultQPS, DefaultBurst},
		{"the config's own", Options{}, rest.Config{QPS: 7, Burst: 9}, 7, 9},
		{"options win", Options{QPS: 50, Burst: 60}, rest.Config{QPS: 7, Burst: 9}, 50, 60},
		{"negative QPS: no limit", Options{QPS: -1}, rest.Config{QPS: 7}, -1, DefaultBurst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			tc.opts.defaults(&cfg)
			assert.Equal(t, tc.wantQPS, cfg.QPS)
			assert.Equal(t, tc.wantBurst, cfg.Burst)
			assert.Equal(t, tc.wantQPS, tc.opts.QPS, "Options reports what the engine uses")
		})
	}
}
