package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// GoBenchmark is one result line of `go test -bench`.
type GoBenchmark struct {
	// Name is the benchmark's name without the -GOMAXPROCS suffix.
	Name string
	// Iterations is b.N.
	Iterations int
	// NsPerOp, BytesPerOp and AllocsPerOp are the reported figures (zero when
	// not reported).
	NsPerOp, BytesPerOp, AllocsPerOp float64
}

// ParseGoBench reads the benchmark lines of `go test -bench` output; other
// lines (goos, PASS, ok ...) are ignored.
func ParseGoBench(r io.Reader) ([]GoBenchmark, error) {
	var out []GoBenchmark
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		b := GoBenchmark{Name: f[0]}
		if i := strings.LastIndexByte(b.Name, '-'); i > 0 {
			if _, err := strconv.Atoi(b.Name[i+1:]); err == nil {
				b.Name = b.Name[:i]
			}
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: iterations: expected an integer, got %q", line, f[0], f[1])
		}
		b.Iterations = n
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: expected a number before %q, got %q", line, f[0], f[i+1], f[i])
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			}
		}
		out = append(out, b)
	}
	return out, sc.Err()
}
