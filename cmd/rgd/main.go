// Command rgd compiles, validates and runs ResourceGraphDefinitions.
//
// Offline by default: `rgd validate`, `rgd crd`, `rgd graph` and `rgd render`
// need no cluster. `rgd dev` starts a local control plane with the engine in
// the same process, `rgd controller` runs the engine against a cluster, and
// `rgd status` shows an instance's live graph or an RGD's instances.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks an error as a usage problem (exit code 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "rgd",
		Short:         "rgd compiles ResourceGraphDefinitions and runs them on Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: 2, err: err}
	})
	root.AddCommand(newVersionCommand())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	// A wrong number of arguments is a usage error (exit 2), like a bad flag.
	for _, c := range root.Commands() {
		if check := c.Args; check != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return &exitError{code: 2, err: err}
				}
				return nil
			}
		}
	}
	// An unknown command is a usage error too.
	root.Args = func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return &exitError{code: 2, err: fmt.Errorf("unknown command %q; see rgd --help", args[0])}
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return root
}

// extraCommands lets each subcommand's file register itself.
var extraCommands []func() *cobra.Command

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "rgd:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "rgd:", err)
	return 1
}
