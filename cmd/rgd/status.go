package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rgd-dev/rgd/internal/progress"
)

func init() { extraCommands = append(extraCommands, newStatusCommand) }

// The exit codes of `rgd status`.
const (
	statusReady       = 0 // the instance is ACTIVE and Ready; the RGD is Ready
	statusNotReady    = 1 // anything else
	statusUsage       = 2 // bad arguments, an unknown type, an object not found
	statusUnreachable = 3 // the cluster could not be reached or read
)

// statusWatchInterval is how often `rgd status --watch` reads the cluster.
const statusWatchInterval = time.Second

type statusFlags struct {
	kubeconfig, namespace, output string
	watch                         bool
}

func newStatusCommand() *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status TYPE/NAME | TYPE NAME",
		Short: "Show an instance's resources, what each waits on, and its conditions; or an RGD's",
		Long: `status shows, for an instance (rgd status cartsstack/carts-kro -n default), its state and Ready
condition, then every resource of its graph in topological order: its object, whether it exists, whether
it is ready and, when not, what it waits on (a dependency, a readyWhen expression that is false, data
not there yet, its creation), or why it is excluded (an includeWhen expression); then the instance's
conditions and how long since each last changed. For an RGD (rgd status rgd/cartsstack), its state,
conditions and instances counted by state.

TYPE is rgd, or an instance kind's plural, singular (lower-case kind) or short name, as in kubectl.
Readiness is judged as the engine judges it: the RGD is compiled against the cluster's schemas and its
expressions evaluated over the live objects the instance's inventory names.

It connects with --kubeconfig, else $KUBECONFIG, else ~/.kube/config (else in-cluster), as kubectl;
the namespace is -n, else the kubeconfig context's, else default.

-o json|yaml prints a document for scripts (see internal/progress: Instance, RGD). --watch reads the
cluster every second until Ctrl-C: redrawn in place on a terminal, otherwise a new block (or document)
each time it changes.

Exit codes: 0 the instance is ACTIVE and Ready (an RGD: Ready); 1 it is not; 2 usage error, unknown
type or not found; 3 the cluster could not be read. With --watch, those of the last reading.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return runStatus(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the instance (default: the kubeconfig context's, else default)")
	fl.StringVarP(&f.output, "output", "o", progress.FormatText, "output format: text, json or yaml")
	fl.BoolVarP(&f.watch, "watch", "w", false, "read again every second and show the changes, until Ctrl-C")
	return cmd
}

// statusArgs splits TYPE/NAME (or TYPE NAME).
func statusArgs(args []string) (typ, name string, err error) {
	if len(args) == 2 {
		typ, name = args[0], args[1]
	} else {
		typ, name, _ = strings.Cut(args[0], "/")
	}
	if typ == "" || name == "" || strings.Contains(name, "/") {
		return "", "", usageError("want TYPE/NAME or TYPE NAME (e.g. rgd status cartsstack/carts-kro), got %q", strings.Join(args, " "))
	}
	return typ, name, nil
}

func runStatus(ctx context.Context, stdout, stderr io.Writer, args []string, f statusFlags) error {
	typ, name, err := statusArgs(args)
	if err != nil {
		return err
	}
	out, err := progress.NewStatusOutput(stdout, stderr, f.output, isTerminal(stdout))
	if err != nil {
		return usageError("-o: %v", err)
	}
	cfg, namespace, err := statusConfig(f)
	if err != nil {
		return &exitError{code: statusUsage, err: err}
	}
	reader, err := progress.NewClusterReader(cfg)
	if err != nil {
		return &exitError{code: statusUnreachable, err: err}
	}
	target, err := reader.Resolve(typ, name, namespace)
	if err != nil {
		return statusExit(progress.Status{}, err)
	}
	if !f.watch {
		s, err := reader.Status(ctx, target)
		if err != nil {
			return statusExit(s, err)
		}
		if err := out.Show(s, nil, time.Now()); err != nil {
			return err
		}
		return statusExit(s, nil)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := reader.WatchStatus(ctx, target, statusWatchInterval, out)
	if err != nil {
		return statusExit(s, fmt.Errorf("%w (last reading)", err))
	}
	return statusExit(s, nil)
}

// statusConfig loads the client configuration as kubectl does, and the
// namespace: -n, else the context's, else default.
func statusConfig(f statusFlags) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	overrides := &clientcmd.ConfigOverrides{}
	overrides.Context.Namespace = f.namespace
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := loader.ClientConfig()
	if err != nil {
		if f.kubeconfig != "" {
			return nil, "", fmt.Errorf("--kubeconfig %s: %w", f.kubeconfig, err)
		}
		return nil, "", fmt.Errorf("no cluster: no usable kubeconfig ($KUBECONFIG or ~/.kube/config) and not in a cluster: %w", err)
	}
	namespace, _, err := loader.Namespace()
	if err != nil {
		return nil, "", err
	}
	return cfg, namespace, nil
}

// statusExit is the outcome of a reading: nil when healthy, else the exit
// code and, for an error, what to print.
func statusExit(s progress.Status, err error) error {
	var notFound *progress.NotFoundError
	switch {
	case errors.As(err, &notFound):
		return &exitError{code: statusUsage, err: err}
	case err != nil:
		return &exitError{code: statusUnreachable, err: err}
	case s.Healthy():
		return nil
	}
	return &exitError{code: statusNotReady, err: errors.New("")}
}
