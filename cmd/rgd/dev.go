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
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobuffalo/flect"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/rgd-dev/rgd/crds"
	"github.com/rgd-dev/rgd/internal/ackstandin"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/engine"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/metadata"
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

type devFlags struct {
	dir     string
	keep    bool
	noKwok  bool
	example string
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
	return cmd
}

func runDev(ctx context.Context, out io.Writer, f devFlags, exampleGiven bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	say := func(format string, args ...any) { fmt.Fprintf(out, "rgd dev: "+format+"\n", args...) }

	var example *exampleSet
	if f.example != "none" {
		dir, err := findExample(f.example)
		if err != nil {
			if exampleGiven {
				return usageError("--example %s: %v", f.example, err)
			}
			say("no %s folder here (%v); applying no example", f.example, err)
		} else if example, err = loadExample(dir); err != nil {
			return usageError("--example %s: %v", f.example, err)
		}
	}

	parts := "etcd, kube-apiserver, kube-controller-manager, kube-scheduler"
	if !f.noKwok {
		parts += ", kwok"
	}
	say("starting the local control plane in %s (%s)", f.dir, parts)
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
			say("interrupted while starting; stopped")
			return nil
		}
		return err
	}
	say("control plane up in %s: %s", time.Since(started).Round(100*time.Millisecond), cluster.RESTConfig().Host)

	var wg sync.WaitGroup
	var logFiles []*os.File // closed once every goroutine has stopped
	defer func() {
		say("stopping")
		wg.Wait()
		for _, f := range logFiles {
			_ = f.Close()
		}
		if err := cluster.Stop(); err != nil {
			say("stopping the control plane: %v", err)
			return
		}
		say("stopped; state kept in %s", cluster.Dir())
	}()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	cfg := cluster.RESTConfig()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	tty := isTerminal(out)
	standInLog := out
	if tty {
		f, err := openLog(cluster.Dir(), devStandInLog)
		if err != nil {
			return err
		}
		logFiles = append(logFiles, f)
		standInLog = f
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ackstandin.Run(runCtx, dyn, ackstandin.Options{Log: standInLog}); err != nil {
			say("ACK stand-in stopped: %v", err)
		}
	}()

	ap, err := newApplier(cfg, dyn)
	if err != nil {
		return err
	}
	if err := ap.setup(runCtx, say, example); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	engineUp := startEngine != nil
	// engineDone receives the engine's error if it stops before ctx ends.
	engineDone := make(chan error, 1)
	if engineUp {
		logs, err := openLog(cluster.Dir(), devEngineLog)
		if err != nil {
			return err
		}
		logFiles = append(logFiles, logs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := startEngine(runCtx, cluster.RESTConfig(), logs)
			if runCtx.Err() == nil {
				if err == nil {
					err = errors.New("returned early")
				}
				say("the rgd engine stopped: %v", err)
				engineDone <- err
			}
		}()
		say("rgd engine started; its log is %s", logs.Name())
	} else {
		say("the rgd engine is not there yet: the cluster is up, but RGDs are not reconciled")
	}
	if example != nil && len(example.instances) > 0 {
		if engineUp {
			if err := ap.applyAndWatch(runCtx, out, tty, say, example, engineDone); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		} else {
			say("skipping %d instance(s): they need the engine", len(example.instances))
		}
	}

	printTryCommands(out, cluster, example)
	say("running; press Ctrl-C to stop")
	<-ctx.Done()
	cancel()
	return nil
}

// printTryCommands prints the kubeconfig and a few commands to try.
func printTryCommands(out io.Writer, cluster *devcluster.Cluster, example *exampleSet) {
	kubectl := filepath.Join(cluster.BinDir(), devcluster.Kubectl)
	fmt.Fprintf(out, "\nThe cluster's kubeconfig is %s. Try:\n\n", cluster.KubeconfigPath())
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", cluster.KubeconfigPath())
	kinds := []string{"cartsstacks"}
	if example != nil && len(example.kinds) > 0 {
		kinds = example.kinds
	}
	for _, k := range kinds {
		fmt.Fprintf(out, "  %s get %s -A\n", kubectl, k)
	}
	fmt.Fprintf(out, "  %s get rgd\n\n", kubectl)
}

// findExample resolves an example folder: as given (relative to the working
// directory), else relative to the nearest parent directory that has it, so
// `rgd dev` works from anywhere inside the repository.
func findExample(path string) (string, error) {
	if filepath.IsAbs(path) {
		return checkDir(path)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if found, err := checkDir(filepath.Join(dir, path)); err == nil {
			return found, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no such folder (looked in %s and its parents)", wd)
		}
	}
}

func checkDir(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		return "", fmt.Errorf("%s is not a folder", path)
	}
	return path, nil
}

// exampleSet is an example folder's documents, sorted by when they are applied.
type exampleSet struct {
	dir       string
	crds      []manifest.Document // CustomResourceDefinitions: first
	prereqs   []manifest.Document // anything else that is neither an RGD nor an instance
	rgds      []manifest.Document // ResourceGraphDefinitions
	instances []manifest.Document // objects of a kind one of the RGDs defines: last, need the engine
	kinds     []string            // resource.group of the instance kinds, for the hints
}

// loadExample reads every *.yaml, *.yml and *.json file of dir (not sub
// folders) and sorts their documents.
func loadExample(dir string) (*exampleSet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	set := &exampleSet{dir: dir}
	var docs []manifest.Document
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		d, err := manifest.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	instanceKinds := map[schema.GroupKind]bool{}
	var errs []error
	for _, d := range docs {
		if d.IsRGD() {
			kind, _, _ := unstructured.NestedString(d.Object.Object, "spec", "schema", "kind")
			group, _, _ := unstructured.NestedString(d.Object.Object, "spec", "schema", "group")
			if group == "" {
				group = "kro.run"
			}
			if kind == "" {
				errs = append(errs, fmt.Errorf("%s: spec.schema.kind: Required value", d.Source))
				continue
			}
			instanceKinds[schema.GroupKind{Group: group, Kind: kind}] = true
		}
	}
	for _, d := range docs {
		gvk := d.Object.GroupVersionKind()
		switch {
		case gvk.Kind == "" || d.Object.GetName() == "":
			errs = append(errs, fmt.Errorf("%s: expected a Kubernetes object with apiVersion, kind and metadata.name", d.Source))
		case gvk.Group == extv1.GroupName && gvk.Kind == "CustomResourceDefinition":
			set.crds = append(set.crds, d)
		case d.IsRGD():
			set.rgds = append(set.rgds, d)
		case instanceKinds[gvk.GroupKind()]:
			set.instances = append(set.instances, d)
		default:
			set.prereqs = append(set.prereqs, d)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for gk := range instanceKinds {
		set.kinds = append(set.kinds, flect.Pluralize(strings.ToLower(gk.Kind))+"."+gk.Group)
	}
	sort.Strings(set.kinds)
	return set, nil
}

// applier applies documents with server-side apply, mapping kinds through
// discovery.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(cfg *rest.Config, dyn dynamic.Interface) (*applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// setup installs the RGD CRD and the example's CRDs, prerequisites and RGDs.
func (a *applier) setup(ctx context.Context, say func(string, ...any), ex *exampleSet) error {
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
	if err := a.applyCRD(ctx, rgdCRD, "crds/kro.run_resourcegraphdefinitions.yaml"); err != nil {
		return err
	}
	if ex == nil {
		return nil
	}
	for _, d := range ex.crds {
		say("installing CRD %s (%s)", d.Object.GetName(), d.Source)
		if err := a.applyCRD(ctx, d.Object, d.Source); err != nil {
			return err
		}
	}
	for _, d := range ex.prereqs {
		say("applying %s %s (%s)", d.Object.GetKind(), d.Object.GetName(), d.Source)
		if err := a.apply(ctx, d, 30*time.Second); err != nil {
			return err
		}
	}
	for _, d := range ex.rgds {
		say("applying ResourceGraphDefinition %s (%s)", d.Object.GetName(), d.Source)
		if err := a.apply(ctx, d, 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// applyInstances applies the example's instances once the engine serves their kinds.
func (a *applier) applyInstances(ctx context.Context, say func(string, ...any), ex *exampleSet) error {
	for _, d := range ex.instances {
		say("applying %s %s/%s (%s)", d.Object.GetKind(), namespaceOr(d.Object.GetNamespace()), d.Object.GetName(), d.Source)
		if err := a.apply(ctx, d, 2*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

func namespaceOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// applyCRD applies a CRD and waits until it is Established.
func (a *applier) applyCRD(ctx context.Context, obj *unstructured.Unstructured, source string) error {
	crds := a.dyn.Resource(extv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	if _, err := crds.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: devFieldManager, Force: true}); err != nil {
		return fmt.Errorf("%s: applying CRD %s: %w", source, obj.GetName(), err)
	}
	err := poll(ctx, 30*time.Second, func() error {
		got, err := crds.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errors.New("not Established yet")
	})
	if err != nil {
		return fmt.Errorf("%s: CRD %s: %w", source, obj.GetName(), err)
	}
	a.mapper.Reset()
	return nil
}

// apply server-side applies one document, waiting up to wait for its kind to
// be served (for kinds whose CRD is still being created).
func (a *applier) apply(ctx context.Context, d manifest.Document, wait time.Duration) error {
	gvk := d.Object.GroupVersionKind()
	var mapping *meta.RESTMapping
	err := poll(ctx, wait, func() error {
		m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			a.mapper.Reset()
			return err
		}
		mapping = m
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %s is not served by the cluster: %w", d.Source, gvk, err)
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dyn.Resource(mapping.Resource).Namespace(namespaceOr(d.Object.GetNamespace()))
	}
	obj := d.Object.DeepCopy()
	if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: devFieldManager, Force: true}); err != nil {
		return fmt.Errorf("%s: applying %s %s: %w", d.Source, gvk.Kind, obj.GetName(), err)
	}
	return nil
}

// poll calls check every 200ms until it succeeds or timeout (or ctx) ends.
func poll(ctx context.Context, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		case <-ticker.C:
		}
	}
}

// openLog opens (appending) a log file in dir's logs/ folder.
func openLog(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, "logs", name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// isTerminal reports whether out is a terminal, where progress is redrawn in place.
func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// rgdResource is the RGDs' resource, cluster-scoped.
var rgdResource = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}

// progressInterval is how often the progress display reads the cluster.
const progressInterval = time.Second

// rgdWait bounds how long `rgd dev` waits for an RGD to turn Active.
const rgdWait = 2 * time.Minute

// applyAndWatch waits for the example's RGDs to be Active, applies its
// instances and shows their progress until each is ACTIVE or ERROR.
func (a *applier) applyAndWatch(ctx context.Context, out io.Writer, tty bool, say func(string, ...any), ex *exampleSet, engineDone <-chan error) error {
	if !a.waitRGDs(ctx, say, ex, engineDone) {
		say("skipping %d instance(s)", len(ex.instances))
		return nil
	}
	if err := a.applyInstances(ctx, say, ex); err != nil {
		return err
	}
	a.watchProgress(ctx, out, tty, say, ex, engineDone)
	return nil
}

// waitRGDs polls the example's RGDs until every one is Active and reports
// each state change. It returns false (having said why) when one is refused
// (GraphAccepted False), when the engine stops, or after rgdWait.
func (a *applier) waitRGDs(ctx context.Context, say func(string, ...any), ex *exampleSet, engineDone <-chan error) bool {
	ctx, cancel := context.WithTimeout(ctx, rgdWait)
	defer cancel()
	ticker := time.NewTicker(progressInterval)
	defer ticker.Stop()
	said := map[string]string{}
	for {
		active := 0
		for _, d := range ex.rgds {
			name := d.Object.GetName()
			got, err := a.dyn.Resource(rgdResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			st := readRGD(got)
			line := st.state
			if st.message != "" {
				line += ": " + st.message
			}
			if st.state != "" && said[name] != line {
				say("ResourceGraphDefinition %s is %s", name, line)
				said[name] = line
			}
			if st.refused {
				return false
			}
			if st.state == "Active" {
				active++
			}
		}
		if active == len(ex.rgds) {
			return true
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				say("the ResourceGraphDefinitions are not Active after %s", rgdWait)
			}
			return false
		case <-engineDone:
			return false
		case <-ticker.C:
		}
	}
}

// progressResource is one resource of an instance's graph.
type progressResource struct {
	id, kind, name, state string
}

// progressCondition is one of an instance's conditions.
type progressCondition struct {
	typ, status, reason, message string
}

// progressInstance is one instance and its graph.
type progressInstance struct {
	kind, namespace, name string
	found                 bool
	state, readyMessage   string
	conditions            []progressCondition
	resources             []progressResource
}

// ref names the instance as kind namespace/name.
func (p progressInstance) ref() string {
	if p.namespace == "" {
		return p.kind + " " + p.name
	}
	return p.kind + " " + p.namespace + "/" + p.name
}

// progressRGD is one RGD and its instances.
type progressRGD struct {
	name, state, message string
	instances            []progressInstance
}

// progressLine is one line of the display; key identifies it across updates.
type progressLine struct {
	key, text string
}

// renderProgress turns a snapshot into display lines.
func renderProgress(rgds []progressRGD) []progressLine {
	var lines []progressLine
	for _, r := range rgds {
		state := orDash(r.state)
		if r.message != "" {
			state += ": " + r.message
		}
		lines = append(lines, progressLine{"rgd/" + r.name, fmt.Sprintf("ResourceGraphDefinition %s: %s", r.name, state)})
		for _, in := range r.instances {
			key := "instance/" + in.namespace + "/" + in.name
			text := in.ref() + ": "
			switch {
			case !in.found:
				text += "not found"
			default:
				text += orDash(in.state)
				if in.readyMessage != "" {
					text += " (" + in.readyMessage + ")"
				}
			}
			lines = append(lines, progressLine{key, "  " + text})
			width := 0
			for _, res := range in.resources {
				width = max(width, len(res.id))
			}
			for _, res := range in.resources {
				lines = append(lines, progressLine{
					key + "/" + res.id,
					fmt.Sprintf("    %-*s  %-8s  %s/%s", width, res.id, res.state, res.kind, orDash(res.name)),
				})
			}
		}
	}
	return lines
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// progressPrinter shows successive renderings: redrawn in place on a
// terminal, else as plain lines, each printed only when it changed.
type progressPrinter struct {
	out     io.Writer
	tty     bool
	drawn   int               // lines drawn last time (terminal)
	printed map[string]string // last text printed per key (plain)
}

func newProgressPrinter(out io.Writer, tty bool) *progressPrinter {
	return &progressPrinter{out: out, tty: tty, printed: map[string]string{}}
}

// show prints lines.
func (p *progressPrinter) show(lines []progressLine) {
	var b strings.Builder
	if p.tty {
		if p.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn) // back to the first line drawn
		}
		for _, l := range lines {
			b.WriteString("\r\x1b[2K" + l.text + "\n")
		}
		b.WriteString("\x1b[J") // clear lines left over from a longer drawing
		p.drawn = len(lines)
	} else {
		for _, l := range lines {
			if p.printed[l.key] != l.text {
				p.printed[l.key] = l.text
				b.WriteString(l.text + "\n")
			}
		}
	}
	_, _ = io.WriteString(p.out, b.String())
}

// watchProgress shows the example's RGDs and instances every
// progressInterval until every instance is ACTIVE or ERROR, ctx ends or the
// engine stops.
func (a *applier) watchProgress(ctx context.Context, out io.Writer, tty bool, say func(string, ...any), ex *exampleSet, engineDone <-chan error) {
	printer := newProgressPrinter(out, tty)
	ticker := time.NewTicker(progressInterval)
	defer ticker.Stop()
	for {
		snap := a.snapshot(ctx, ex)
		printer.show(renderProgress(snap))
		if done := settled(snap); done != nil {
			for _, in := range done {
				if in.state == "ACTIVE" {
					say("%s is ACTIVE", in.ref())
					continue
				}
				say("%s is in ERROR:", in.ref())
				for _, c := range in.conditions {
					fmt.Fprintf(out, "  %s=%s %s: %s\n", c.typ, c.status, c.reason, c.message)
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-engineDone:
			return
		case <-ticker.C:
		}
	}
}

// settled returns every instance once all are ACTIVE or ERROR, else nil.
func settled(snap []progressRGD) []progressInstance {
	var all []progressInstance
	for _, r := range snap {
		for _, in := range r.instances {
			if in.state != "ACTIVE" && in.state != "ERROR" {
				return nil
			}
			all = append(all, in)
		}
	}
	return all
}

// rgdState is what the display needs of an RGD.
type rgdState struct {
	state, message string
	refused        bool // GraphAccepted is False: it will not turn Active
	order          []string
	resources      map[string]rgdResourceRef
	kind           schema.GroupKind
}

// rgdResourceRef is one resource of an RGD's spec.
type rgdResourceRef struct {
	apiVersion, kind, name, namespace string
	external                          bool
}

// readRGD reads an RGD's status and its resources' kinds.
func readRGD(u *unstructured.Unstructured) rgdState {
	var st rgdState
	st.state, _, _ = unstructured.NestedString(u.Object, "status", "state")
	st.order, _, _ = unstructured.NestedStringSlice(u.Object, "status", "topologicalOrder")
	conds := readConditions(u)
	if st.state != "Active" {
		for _, want := range []string{"GraphAccepted", "KindReady", "ControllerReady", "Ready"} {
			for _, c := range conds {
				if c.typ == want && c.status == "False" {
					if st.message == "" {
						st.message = c.message
					}
					// Only an invalid graph is a refusal. An unknown kind
					// may still appear (a CRD being published), and a
					// failed schema lookup is retried: keep waiting.
					st.refused = st.refused || want == "GraphAccepted" && c.reason == v1alpha1.ReasonInvalidResourceGraph &&
						!strings.Contains(c.message, "unknown kind")
				}
			}
		}
	}
	kind, _, _ := unstructured.NestedString(u.Object, "spec", "schema", "kind")
	group, _, _ := unstructured.NestedString(u.Object, "spec", "schema", "group")
	if group == "" {
		group = "kro.run"
	}
	st.kind = schema.GroupKind{Group: group, Kind: kind}
	st.resources = map[string]rgdResourceRef{}
	resources, _, _ := unstructured.NestedSlice(u.Object, "spec", "resources")
	var specOrder []string
	for _, r := range resources {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		id, _ := m["id"].(string)
		obj, _ := m["template"].(map[string]any)
		ref := rgdResourceRef{}
		if obj == nil {
			obj, _ = m["externalRef"].(map[string]any)
			ref.external = true
		}
		if id == "" || obj == nil {
			continue
		}
		ref.apiVersion, _, _ = unstructured.NestedString(obj, "apiVersion")
		ref.kind, _, _ = unstructured.NestedString(obj, "kind")
		ref.name, _, _ = unstructured.NestedString(obj, "metadata", "name")
		ref.namespace, _, _ = unstructured.NestedString(obj, "metadata", "namespace")
		st.resources[id] = ref
		specOrder = append(specOrder, id)
	}
	if len(st.order) == 0 {
		st.order = specOrder
	}
	return st
}

func readConditions(u *unstructured.Unstructured) []progressCondition {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []progressCondition
	for _, c := range raw {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		out = append(out, progressCondition{typ: str("type"), status: str("status"), reason: str("reason"), message: str("message")})
	}
	return out
}

// snapshot reads the example's RGDs, instances and children from the cluster.
func (a *applier) snapshot(ctx context.Context, ex *exampleSet) []progressRGD {
	var out []progressRGD
	for _, d := range ex.rgds {
		pr := progressRGD{name: d.Object.GetName()}
		u, err := a.dyn.Resource(rgdResource).Get(ctx, pr.name, metav1.GetOptions{})
		if err != nil {
			u = d.Object // not readable right now: show its instances from the example
			pr.state = "unknown"
		}
		st := readRGD(u)
		if err == nil {
			pr.state, pr.message = st.state, st.message
		}
		for _, doc := range ex.instances {
			if doc.Object.GroupVersionKind().GroupKind() == st.kind {
				pr.instances = append(pr.instances, a.readInstance(ctx, doc.Object, st))
			}
		}
		out = append(out, pr)
	}
	return out
}

// readInstance reads one instance and the children of each of its resources.
func (a *applier) readInstance(ctx context.Context, inst *unstructured.Unstructured, st rgdState) progressInstance {
	gvk := inst.GroupVersionKind()
	in := progressInstance{kind: gvk.Kind, name: inst.GetName()}
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return in
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		in.namespace = namespaceOr(inst.GetNamespace())
		ri = a.dyn.Resource(mapping.Resource).Namespace(in.namespace)
	}
	live, err := ri.Get(ctx, in.name, metav1.GetOptions{})
	if err != nil {
		return in
	}
	in.found = true
	in.state, _, _ = unstructured.NestedString(live.Object, "status", "state")
	in.conditions = readConditions(live)
	for _, c := range in.conditions {
		if c.typ == "Ready" && c.status != "True" {
			in.readyMessage = c.message
		}
	}
	for _, id := range st.order {
		ref, ok := st.resources[id]
		if !ok {
			continue
		}
		in.resources = append(in.resources, a.readChild(ctx, in, id, ref))
	}
	return in
}

// readChild finds the objects of one resource: children by their labels,
// external references by name.
func (a *applier) readChild(ctx context.Context, in progressInstance, id string, ref rgdResourceRef) progressResource {
	res := progressResource{id: id, kind: ref.kind, state: "waiting"}
	if !strings.Contains(ref.name, "${") {
		res.name = ref.name
	}
	gv, err := schema.ParseGroupVersion(ref.apiVersion)
	if err != nil {
		return res
	}
	mapping, err := a.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.kind}, gv.Version)
	if err != nil {
		a.mapper.Reset()
		return res
	}
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	qualified := func(u *unstructured.Unstructured) string {
		if namespaced {
			return u.GetNamespace() + "/" + u.GetName()
		}
		return u.GetName()
	}
	if ref.external {
		res.state = "external"
		if res.name == "" || strings.Contains(ref.namespace, "${") {
			return res
		}
		var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
		if namespaced {
			ri = a.dyn.Resource(mapping.Resource).Namespace(cmp.Or(ref.namespace, in.namespace))
		}
		if got, err := ri.Get(ctx, res.name, metav1.GetOptions{}); err == nil {
			res.name, res.state = qualified(got), "found"
		}
		return res
	}
	selector := metadata.LabelInstanceName + "=" + in.name + "," + metadata.LabelNodeID + "=" + id
	list, err := a.dyn.Resource(mapping.Resource).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return res
	}
	var names []string
	for i := range list.Items {
		item := &list.Items[i]
		if ns, ok := item.GetLabels()[metadata.LabelInstanceNamespace]; ok && in.namespace != "" && ns != in.namespace {
			continue // an instance of the same name in another namespace
		}
		names = append(names, qualified(item))
	}
	if len(names) == 0 {
		return res
	}
	sort.Strings(names)
	res.state, res.name = "created", names[0]
	if len(names) > 1 {
		res.name += fmt.Sprintf(" (+%d more)", len(names)-1)
	}
	return res
}
