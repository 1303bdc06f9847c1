package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	root := flag.String("root", "../..", "the repository's root")
	checkOnly := flag.Bool("check", false, "write nothing: fail, naming them, when generated files are stale")
	flag.Parse()
	if err := run(context.Background(), *root, *checkOnly); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, root string, checkOnly bool) error {
	files, err := generate(ctx, root)
	if err != nil {
		return err
	}
	if !checkOnly {
		return write(root, files)
	}
	if err := check(root, files); err != nil {
		if errors.Is(err, errStale) {
			return fmt.Errorf("%w\nthe files generated from charts/rgd are stale: run 'make manifests' and commit the result", err)
		}
		return err
	}
	return nil
}
