package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/crds"
	"github.com/rgd-dev/rgd/internal/ackstandin"
	"github.com/rgd-dev/rgd/internal/applier"
	"github.com/rgd-dev/rgd/internal/devexample"
	"github.com/rgd-dev/rgd/internal/progress"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/engine"
)

func init() { extraCommands = append(extraCommands, newDevCommand) }

// startEngine runs the rgd engine against cfg until ctx ends, logging to
// logs. Tests may replace it; nil runs the cluster without an engine.
var startEngine = runDevEngine

// runDevEngine runs the rgd engine in-process until ctx ends.
func runDevEngine(ctx context.Context, cfg *rest.Config, logs io.Writer) error {
	eng, err := engine.New(cfg, engine.Options{Logger: newLogger(logs, "text", 0).WithName("engine")})
	if err != nil {
		return err
	}
	return eng.Start(ctx)
}

// devEngineLog is the engine's log file in the state directory's logs/.
const devEngineLog = "rgd-engine.log"

// devStandInLog receives the ACK stand-in's lines while stdout is a terminal
// (they would break the display updated in place).
const devStandInLog = "ack-standin.log"

// devFieldManager is the server-side apply field manager of everything `rgd dev` applies.
const devFieldManager = "rgd-dev"

const defaultExample = "examples/cartsstack"

// How `rgd dev` follows its example: how often it reads the cluster, and
// how long it waits for the RGDs to turn Active.
const (
	progressInterval = time.Second
	rgdWait          = 2 * time.Minute
)

type devFlags struct {
	dir     string
	keep    bool
	noKwok  bool
	example string
	// engine is false to run the control plane without the engine, for a
	// developer's own build of it (or a debugger).
	engine bool
}

func newDevCommand() *cobra.Command {
	var f devFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local control plane with the rgd engine and apply an example",
		Long: `dev starts a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok with one fake node), a local stand-in for the ACK DynamoDB controller, and the rgd
engine; it installs the ResourceGraphDefinition CRD and applies an example folder: its CRDs first, then its
other prerequisites, its ResourceGraphDefinitions and finally its instances. It runs until Ctrl-C or SIGTERM
and then stops everything it started.

With --engine=false it starts the control plane (and the ACK stand-in) without the engine and applies the
example's CRDs, prerequisites and ResourceGraphDefinitions but not its instances (their kinds are served
only once an engine has accepted the RGDs); it prints how to run your own build of the engine against it
(go run ./cmd/rgd controller --kubeconfig ..., or the same under a debugger) and how to apply the instances.

The control-plane binaries are built once by ` + "`make control-plane`" + ` (or hack/control-plane.sh).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exampleGiven := cmd.Flags().Changed("example")
			return runDev(cmd.Context(), cmd.OutOrStdout(), f, exampleGiven)
		},
	}
	cmd.Flags().StringVar(&f.dir, "dir", ".rgd-dev/", "state directory (kubeconfig, logs, etcd data)")
	cmd.Flags().BoolVar(&f.keep, "keep", false, "reuse the state a previous run left in --dir")
	cmd.Flags().BoolVar(&f.noKwok, "no-kwok", false, "run without kwok's fake node (pods stay Pending)")
	cmd.Flags().StringVar(&f.example, "example", defaultExample, `example folder to apply, or "none"`)
	cmd.Flags().BoolVar(&f.engine, "engine", true, "run the rgd engine in this process (false: the control plane alone, for your own build of the engine)")
	return cmd
}

// devSession is one run of `rgd dev`: where it reports, and what it started
// and stops at the end.
type devSession struct {
	out      io.Writer
	tty      bool // out is a terminal: progress is redrawn in place
	cluster  *devcluster.Cluster
	wg       sync.WaitGroup // the goroutines started, stopped before the cluster
	logFiles []*os.File     // closed once every goroutine has stopped
}

func (s *devSession) say(format string, args ...any) {
	fmt.Fprintf(s.out, "rgd dev: "+format+"\n", args...)
}

func runDev(ctx context.Context, out io.Writer, f devFlags, exampleGiven bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	s := &devSession{out: out, tty: isTerminal(out)}

	example, err := s.loadExample(f, exampleGiven)
	if err != nil {
		return err
	}
	if s.cluster, err = s.startCluster(ctx, f); s.cluster == nil {
		return err // nil when interrupted while starting
	}
	defer s.stop()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// quiet is nil for an error that only says that ctx ended.
	quiet := func(err error) error {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	cfg := s.cluster.RESTConfig()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := s.startStandIn(runCtx, dyn); err != nil {
		return err
	}
	ap, err := applier.New(cfg, dyn, devFieldManager)
	if err != nil {
		return err
	}
	if err := setup(runCtx, ap, s.say, example); err != nil {
		return quiet(err)
	}
	engineCtx, err := s.startEngine(runCtx, f.engine)
	if err != nil {
		return err
	}
	if err := s.runExample(runCtx, engineCtx, ap, progress.NewReader(dyn, ap.Mapper()), example); err != nil {
		return quiet(err)
	}

	if !f.engine {
		printEngineCommands(out, s.cluster.KubeconfigPath(), filepath.Join(s.cluster.BinDir(), devcluster.Kubectl), example)
	}
	printTryCommands(out, s.cluster, example)
	s.say("running; press Ctrl-C to stop")
	<-ctx.Done()
	cancel()
	return nil
}

// loadExample loads the --example folder: nil for "none", and nil (having
// said so) for the default one when it is not there.
func (s *devSession) loadExample(f devFlags, exampleGiven bool) (*devexample.Set, error) {
	if f.example == "none" {
		return nil, nil
	}
	dir, err := devexample.Find(f.example)
	if err != nil {
		if exampleGiven {
			return nil, usageError("--example %s: %v", f.example, err)
		}
		s.say("no %s folder here (%v); applying no example", f.example, err)
		return nil, nil
	}
	set, err := devexample.Load(dir)
	if err != nil {
		return nil, usageError("--example %s: %v", f.example, err)
	}
	return set, nil
}

// startCluster starts the local control plane. It returns a nil cluster
// and a nil error when ctx ended while starting.
func (s *devSession) startCluster(ctx context.Context, f devFlags) (*devcluster.Cluster, error) {
	parts := "etcd, kube-apiserver, kube-controller-manager, kube-scheduler"
	if !f.noKwok {
		parts += ", kwok"
	}
	s.say("starting the local control plane in %s (%s)", f.dir, parts)
	started := time.Now()
	cluster, err := devcluster.Start(ctx, devcluster.Options{
		Dir:               f.dir,
		Keep:              f.keep,
		ControllerManager: true,
		Scheduler:         true,
		Kwok:              !f.noKwok,
	})
	if err != nil {
		if ctx.Err() != nil {
			s.say("interrupted while starting; stopped")
			return nil, nil
		}
		return nil, err
	}
	s.say("control plane up in %s: %s", time.Since(started).Round(100*time.Millisecond), cluster.RESTConfig().Host)
	return cluster, nil
}

// stop waits for the goroutines (their context ended), closes the log
// files and stops the control plane.
func (s *devSession) stop() {
	s.say("stopping")
	s.wg.Wait()
	for _, f := range s.logFiles {
		_ = f.Close()
	}
	if err := s.cluster.Stop(); err != nil {
		s.say("stopping the control plane: %v", err)
		return
	}
	s.say("stopped; state kept in %s", s.cluster.Dir())
}

// goRun runs fn in a goroutine that stop waits for.
func (s *devSession) goRun(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// openLog opens (appending) a log file in the state directory's logs/
// folder, closed by stop.
func (s *devSession) openLog(name string) (*os.File, error) {
	dir := filepath.Join(s.cluster.Dir(), "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s.logFiles = append(s.logFiles, f)
	return f, nil
}

// startStandIn runs the ACK stand-in until ctx ends, logging to out, or to
// a file on a terminal.
func (s *devSession) startStandIn(ctx context.Context, dyn dynamic.Interface) error {
	var log io.Writer = s.out
	if s.tty {
		f, err := s.openLog(devStandInLog)
		if err != nil {
			return err
		}
		log = f
	}
	s.goRun(func() {
		if err := ackstandin.Run(ctx, dyn, ackstandin.Options{Log: log}); err != nil {
			s.say("ACK stand-in stopped: %v", err)
		}
	})
	return nil
}

// startEngine runs the engine until ctx ends, logging to a file. The
// context it returns ends with ctx, or as soon as the engine stops early;
// it is nil when there is no engine to start: run is false (--engine=false)
// or there is no engine.
func (s *devSession) startEngine(ctx context.Context, run bool) (context.Context, error) {
	if !run {
		s.say("not starting the rgd engine (--engine=false): the control plane waits for yours")
		return nil, nil
	}
	if startEngine == nil {
		s.say("the rgd engine is not there yet: the cluster is up, but RGDs are not reconciled")
		return nil, nil
	}
	logs, err := s.openLog(devEngineLog)
	if err != nil {
		return nil, err
	}
	engineCtx, engineStopped := context.WithCancel(ctx)
	s.goRun(func() {
		defer engineStopped()
		err := startEngine(ctx, s.cluster.RESTConfig(), logs)
		if ctx.Err() == nil {
			if err == nil {
				err = errors.New("returned early")
			}
			s.say("the rgd engine stopped: %v", err)
		}
	})
	s.say("rgd engine started; its log is %s", logs.Name())
	return engineCtx, nil
}

// setup installs the RGD CRD and the example's CRDs, prerequisites and RGDs
// (example may be nil); say receives a line per document.
func setup(ctx context.Context, ap *applier.Applier, say func(string, ...any), example *devexample.Set) error {
	crd, err := crds.ResourceGraphDefinitions()
	if err != nil {
		return err
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
	if err != nil {
		return err
	}
	rgdCRD := &unstructured.Unstructured{Object: u}
	rgdCRD.SetAPIVersion(extv1.SchemeGroupVersion.String())
	rgdCRD.SetKind("CustomResourceDefinition")
	say("installing the ResourceGraphDefinition CRD")
	if err := ap.ApplyCRD(ctx, rgdCRD, "crds/kro.run_resourcegraphdefinitions.yaml"); err != nil {
		return err
	}
	if example == nil {
		return nil
	}
	return example.ApplySetup(ctx, ap, say)
}

// runExample waits for the example's RGDs to be Active, applies its
// instances and shows their progress until each is ACTIVE or in ERROR, or
// the engine (engineCtx, nil without one) stops.
func (s *devSession) runExample(ctx, engineCtx context.Context, ap *applier.Applier, reader *progress.Reader, example *devexample.Set) error {
	if example == nil || len(example.Instances) == 0 {
		return nil
	}
	if engineCtx == nil {
		s.say("not applying %d instance(s): they need the engine", len(example.Instances))
		return nil
	}
	rgds := devexample.Objects(example.RGDs)
	names := make([]string, len(rgds))
	for i, r := range rgds {
		names[i] = r.GetName()
	}
	if !reader.WaitActive(engineCtx, names, rgdWait, progressInterval, s.say) {
		s.say("skipping %d instance(s)", len(example.Instances))
		return nil
	}
	if err := example.ApplyInstances(ctx, ap, s.say); err != nil {
		return err
	}
	printer := progress.NewPrinter(s.out, s.tty)
	for _, in := range reader.Watch(engineCtx, printer, rgds, devexample.Objects(example.Instances), progressInterval) {
		if in.State == v1alpha1.InstanceStateActive {
			s.say("%s is ACTIVE", in.Ref())
			continue
		}
		s.say("%s is in ERROR:", in.Ref())
		for _, c := range in.Conditions {
			fmt.Fprintf(s.out, "  %s\n", progress.FormatCondition(c))
		}
	}
	return nil
}

// printEngineCommands prints how to run an engine of one's own against the
// cluster, and then the example's instances.
func printEngineCommands(out io.Writer, kubeconfig, kubectl string, example *devexample.Set) {
	fmt.Fprintf(out, "\nThe engine is yours to run. From the repository's root:\n\n")
	fmt.Fprintf(out, "  go run ./cmd/rgd controller --kubeconfig %s\n", kubeconfig)
	fmt.Fprintf(out, "  dlv debug ./cmd/rgd -- controller --kubeconfig %s   # under a debugger\n", kubeconfig)
	if example == nil || len(example.Instances) == 0 {
		return
	}
	fmt.Fprintf(out, "\nOnce it has made the ResourceGraphDefinitions Active, apply the instances:\n\n")
	var files []string
	for _, in := range example.Instances {
		file, _, _ := strings.Cut(in.Source, "#") // rgd.yaml#2 is in rgd.yaml
		if !slices.Contains(files, file) {
			files = append(files, file)
		}
	}
	for _, file := range files {
		fmt.Fprintf(out, "  %s --kubeconfig %s apply --server-side -f %s\n", kubectl, kubeconfig, file)
	}
}

// printTryCommands prints the kubeconfig and a few commands to try.
func printTryCommands(out io.Writer, cluster *devcluster.Cluster, example *devexample.Set) {
	kubectl := filepath.Join(cluster.BinDir(), devcluster.Kubectl)
	fmt.Fprintf(out, "\nThe cluster's kubeconfig is %s. Try:\n\n", cluster.KubeconfigPath())
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", cluster.KubeconfigPath())
	kinds := []string{"cartsstacks"}
	if example != nil && len(example.Kinds) > 0 {
		kinds = example.Kinds
	}
	for _, k := range kinds {
		fmt.Fprintf(out, "  %s get %s -A\n", kubectl, k)
	}
	fmt.Fprintf(out, "  %s get rgd\n", kubectl)
	if example != nil {
		for _, in := range example.Instances {
			o := in.Object
			fmt.Fprintf(out, "  go run ./cmd/rgd status %s/%s -n %s\n", strings.ToLower(o.GetKind()), o.GetName(), cmp.Or(o.GetNamespace(), "default"))
		}
	}
	fmt.Fprintln(out)
}

// isTerminal reports whether out is a terminal, where progress is redrawn in place.
func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
