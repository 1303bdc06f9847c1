package main

import (
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
	"github.com/rgd-dev/rgd/pkg/ackstandin"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

func init() { extraCommands = append(extraCommands, newDevCommand) }

// startEngine runs the rgd engine against cfg until ctx ends. The engine's
// package sets it; while it is nil, `rgd dev` runs the cluster without it.
var startEngine func(ctx context.Context, cfg *rest.Config) error

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
	defer func() {
		say("stopping")
		wg.Wait()
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ackstandin.Run(runCtx, dyn, ackstandin.Options{Log: out}); err != nil {
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
	if engineUp {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := startEngine(runCtx, cluster.RESTConfig()); err != nil && runCtx.Err() == nil {
				say("the rgd engine stopped: %v", err)
			}
		}()
		say("rgd engine started")
	} else {
		say("the rgd engine is not there yet: the cluster is up, but RGDs are not reconciled")
	}
	if example != nil && len(example.instances) > 0 {
		if engineUp {
			if err := ap.applyInstances(runCtx, say, example); err != nil {
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
