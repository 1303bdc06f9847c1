package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const usage = `usage:
  image build [flags]           build bin/image/ (OCI layout) and bin/rgd-image.tar
  image push [--layout DIR] REF push the image index in the layout to REF (REGISTRY/REPOSITORY:TAG)
run "image build -h" for the build flags`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no subcommand: expected build or push\n%s", usage)
	}
	switch args[0] {
	case "build":
		o, err := parseBuildFlags(args[1:], stderr)
		if err != nil {
			return err
		}
		_, err = build(ctx, o, stdout)
		return err
	case "push":
		return runPush(ctx, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("unknown subcommand %q: expected build or push\n%s", args[0], usage)
	}
}

// buildOptions are the build subcommand's flags.
type buildOptions struct {
	compile      compileConfig // version is filled from meta
	meta         metaOverrides
	layout       string // the OCI layout's directory
	archive      string // the docker/podman load archive
	tag          string // the name inside the archive
	loadPlatform string // the platform that manifest.json names; empty: the host's if built, else the first
}

func parseBuildFlags(args []string, stderr io.Writer) (buildOptions, error) {
	fs := flag.NewFlagSet("image build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o buildOptions
	var platforms string
	fs.StringVar(&o.compile.goTool, "go", "go", "the go command")
	fs.StringVar(&o.compile.dir, "dir", ".", "the rgd module's root (a git checkout unless --version, --revision and --epoch are given)")
	fs.StringVar(&o.compile.pkg, "package", "./cmd/rgd", "the main package put at /rgd, relative to --dir")
	fs.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "OS/ARCH[/VARIANT] list, comma-separated: one image each, in one index")
	fs.StringVar(&o.layout, "layout", "bin/image", "directory the OCI image layout is written to (replaced)")
	fs.StringVar(&o.archive, "tar", "bin/rgd-image.tar", "file the docker load / podman load archive is written to")
	fs.StringVar(&o.tag, "tag", "rgd:dev", "the image's name in the archive (RepoTags, io.containerd.image.name)")
	fs.StringVar(&o.loadPlatform, "load-platform", "", "the platform docker load takes from the archive (default: linux/"+runtime.GOARCH+" if built, else the first)")
	fs.StringVar(&o.meta.version, "version", "", "version stamped into the binary and labelled (default: git describe --tags --always --dirty)")
	fs.StringVar(&o.meta.revision, "revision", "", "revision label (default: git rev-parse HEAD)")
	fs.StringVar(&o.meta.source, "source", "https://github.com/rgd-dev/rgd", "source label: the repository's URL")
	fs.StringVar(&o.meta.licenses, "licenses", "", "licenses label, an SPDX expression (omitted when empty)")
	fs.StringVar(&o.meta.epoch, "epoch", "", "every timestamp in the image, in seconds since 1970 (default: SOURCE_DATE_EPOCH, else the commit time of HEAD)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: build takes flags only", fs.Args())
	}
	for _, s := range strings.Split(platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil || p.OS == "" || p.Architecture == "" {
			return o, fmt.Errorf("--platforms: %q: expected OS/ARCH[/VARIANT], e.g. linux/arm64", s)
		}
		if slices.ContainsFunc(o.compile.platforms, p.Equals) {
			return o, fmt.Errorf("--platforms: %s twice: expected each platform once", p)
		}
		o.compile.platforms = append(o.compile.platforms, *p)
	}
	return o, nil
}

// buildResult is what build made.
type buildResult struct {
	index v1.ImageIndex
	meta  meta
}

// build compiles the binaries, assembles the index and writes the layout and
// the archive, then prints the digests.
func build(ctx context.Context, o buildOptions, stdout io.Writer) (*buildResult, error) {
	m, err := resolveMeta(ctx, o.compile.dir, o.meta)
	if err != nil {
		return nil, err
	}
	tag, err := name.NewTag(o.tag)
	if err != nil {
		return nil, fmt.Errorf("--tag %q: expected [REGISTRY/]REPOSITORY:TAG: %w", o.tag, err)
	}
	load, err := loadPlatform(o.compile.platforms, o.loadPlatform)
	if err != nil {
		return nil, err
	}
	o.compile.version = m.version
	bins, err := compileAll(ctx, o.compile)
	if err != nil {
		return nil, err
	}
	idx, err := newIndex(m, bins)
	if err != nil {
		return nil, err
	}
	if err := writeLayout(o.layout, idx, tag); err != nil {
		return nil, err
	}
	loadImg, err := imageFor(idx, load)
	if err != nil {
		return nil, err
	}
	if err := writeArchive(o.archive, o.layout, loadImg, o.tag, m.created); err != nil {
		return nil, err
	}
	if err := printSummary(stdout, o, m, idx, load); err != nil {
		return nil, err
	}
	return &buildResult{index: idx, meta: m}, nil
}

// loadPlatform picks the platform of the archive's manifest.json.
func loadPlatform(platforms []v1.Platform, want string) (v1.Platform, error) {
	if want == "" {
		host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
		for _, p := range platforms {
			if p.OS == host.OS && p.Architecture == host.Architecture {
				return p, nil
			}
		}
		return platforms[0], nil
	}
	for _, p := range platforms {
		if p.String() == want {
			return p, nil
		}
	}
	return v1.Platform{}, fmt.Errorf("--load-platform %q: expected one of the built platforms %v", want, platforms)
}

// imageFor is the image of platform p in idx.
func imageFor(idx v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.Equals(p) {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no image for %s in the index", p)
}

// printSummary says what was built, with the digests.
func printSummary(w io.Writer, o buildOptions, m meta, idx v1.ImageIndex, load v1.Platform) error {
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "rgd %s, revision %s, dated %s\n", m.version, m.revision, m.created.Format("2006-01-02T15:04:05Z"))
	fmt.Fprintf(w, "  index        %s\n", digest)
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		mf, err := img.Manifest()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-12s %s (layer %.1f MB)\n", d.Platform, d.Digest, float64(mf.Layers[0].Size)/1e6)
	}
	fmt.Fprintf(w, "%s: OCI image layout\n", o.layout)
	fmt.Fprintf(w, "%s: for docker load / podman load, named %s (docker: %s)\n", o.archive, o.tag, load)
	return nil
}

// runPush is the push subcommand.
func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("layout", "bin/image", "the OCI image layout `image build` wrote")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("push: expected one image reference (REGISTRY/REPOSITORY:TAG), got %q", fs.Args())
	}
	digest, err := push(ctx, *dir, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pushed %s@%s\n", fs.Arg(0), digest)
	return nil
}
