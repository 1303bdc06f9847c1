//go:build !race

package celenv

// raceEnabled is true when tests run under the race detector.
const raceEnabled = false
