package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// platformBinary is the rgd binary compiled for one platform.
type platformBinary struct {
	platform v1.Platform
	binary   []byte
}

// compileConfig says how to compile the binaries.
type compileConfig struct {
	goTool    string        // the go command
	dir       string        // the module's root
	pkg       string        // the main package, relative to dir
	platforms []v1.Platform // what to compile for
	version   string        // stamped into main.version
}

// compileAll compiles cfg.pkg for every platform, in order.
func compileAll(ctx context.Context, cfg compileConfig) ([]platformBinary, error) {
	tmp, err := os.MkdirTemp("", "rgd-image-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	out := make([]platformBinary, 0, len(cfg.platforms))
	for _, p := range cfg.platforms {
		path := filepath.Join(tmp, p.OS+"-"+p.Architecture+p.Variant)
		if err := compile(ctx, cfg, p, path); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, platformBinary{platform: p, binary: b})
	}
	return out, nil
}

// compile builds one static, stripped binary with no build ID and no paths
// of this machine in it, so that it depends only on the source and the Go
// toolchain. GOFLAGS is cleared and the GOAMD64/GOARM64 levels are pinned to
// the baselines, so the caller's environment changes neither the result nor
// the CPUs it runs on.
func compile(ctx context.Context, cfg compileConfig, p v1.Platform, out string) error {
	ldflags := "-s -w -buildid= -X main.version=" + cfg.version
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, cfg.pkg}
	cmd := exec.CommandContext(ctx, cfg.goTool, args...)
	cmd.Dir = cfg.dir
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture,
		"GOFLAGS=", "GOAMD64=v1", "GOARM64=v8.0")
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("compiling %s for %s: %s %s: %w\n%s", cfg.pkg, p, cfg.goTool, strings.Join(args, " "), err, stderr.String())
	}
	return nil
}
