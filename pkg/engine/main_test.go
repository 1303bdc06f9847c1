package engine_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/crds"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/engine"
)

// The engine under test runs once for the whole package, against one real
// control plane with the controller manager (garbage collection, namespace
// deletion, Deployments) and kwok (Pods become ready without a kubelet).
func TestMain(m *testing.M) {
	devclustertest.Main(m, devcluster.Options{ControllerManager: true, Scheduler: true, Kwok: true})
}

var (
	engineOnce sync.Once
	engineErr  error
	dynClient  dynamic.Interface
)

// startEngine installs the RGD CRD and starts one engine for the package.
func startEngine(t *testing.T) dynamic.Interface {
	t.Helper()
	devclustertest.RequireCluster(t)
	engineOnce.Do(func() {
		cfg := devclustertest.Config()
		ext, err := apiextensionsclientset.NewForConfig(cfg)
		if err != nil {
			engineErr = err
			return
		}
		crd, err := crds.ResourceGraphDefinitions()
		if err != nil {
			engineErr = err
			return
		}
		ctx := context.Background()
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			engineErr = err
			return
		}
		dynClient, engineErr = dynamic.NewForConfig(cfg)
		if engineErr != nil {
			return
		}
		// The RGD CRD must be served before the engine watches it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := dynClient.Resource(v1alpha1.ResourceGraphDefinitionResource).List(ctx, metav1.ListOptions{Limit: 1})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				engineErr = fmt.Errorf("RGD CRD not served: %w", err)
				return
			}
			time.Sleep(50 * time.Millisecond) // polling the API server for a CRD to be served
		}
		e, err := engine.New(cfg, engine.Options{Logger: logr.Discard(), Workers: 8})
		if err != nil {
			engineErr = err
			return
		}
		go func() {
			if err := e.Start(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "engine stopped:", err)
			}
		}()
		for i := 0; i < 600 && !e.Ready(); i++ {
			time.Sleep(50 * time.Millisecond) // waiting for the engine's informers to sync
		}
		if !e.Ready() {
			engineErr = fmt.Errorf("engine not ready after 30s")
		}
	})
	require.NoError(t, engineErr)
	return dynClient
}

// apply creates or replaces an object given as YAML, with the namespace
// placeholder NAMESPACE replaced.
func apply(t *testing.T, dyn dynamic.Interface, namespace, doc string) *unstructured.Unstructured {
	t.Helper()
	doc = strings.ReplaceAll(doc, "NAMESPACE", namespace)
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj.Object))
	gvr := resourceFor(obj.GroupVersionKind())
	out, err := dyn.Resource(gvr).Namespace(obj.GetNamespace()).Apply(context.Background(), obj.GetName(), obj,
		metav1.ApplyOptions{FieldManager: "test", Force: true})
	require.NoError(t, err)
	return out
}

// resourceFor maps the kinds the tests use to their resources.
func resourceFor(gvk schema.GroupVersionKind) schema.GroupVersionResource {
	plural := strings.ToLower(gvk.Kind) + "s"
	switch gvk.Kind {
	case "ResourceGraphDefinition":
		return v1alpha1.ResourceGraphDefinitionResource
	case "Ingress":
		plural = "ingresses"
	}
	return gvk.GroupVersion().WithResource(plural)
}

// eventually is devclustertest.Eventually.
var eventually = devclustertest.Eventually

func get(dyn dynamic.Interface, gvr schema.GroupVersionResource, namespace, name string) (*unstructured.Unstructured, error) {
	return dyn.Resource(gvr).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
}

// waitRGDActive waits for an RGD to become Active.
func waitRGDActive(t *testing.T, dyn dynamic.Interface, name string) {
	t.Helper()
	eventually(t, 30*time.Second, "RGD "+name+" Active", func() (bool, string) {
		obj, err := get(dyn, v1alpha1.ResourceGraphDefinitionResource, "", name)
		if err != nil {
			return false, err.Error()
		}
		state, _, _ := unstructured.NestedString(obj.Object, "status", "state")
		conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
		return state == "Active", fmt.Sprintf("state %q conditions %v", state, conds)
	})
}

// waitState waits for an instance to reach a state.
func waitState(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, namespace, name, want string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	var obj *unstructured.Unstructured
	eventually(t, timeout, fmt.Sprintf("%s %s/%s %s", gvr.Resource, namespace, name, want), func() (bool, string) {
		var err error
		obj, err = get(dyn, gvr, namespace, name)
		if err != nil {
			return false, err.Error()
		}
		state, _, _ := unstructured.NestedString(obj.Object, "status", "state")
		conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
		return state == want, fmt.Sprintf("state %q conditions %v", state, conds)
	})
	return obj
}
