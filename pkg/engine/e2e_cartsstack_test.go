package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/internal/ackstandin"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// cartsExample is the folder of the bundled CartsStack example.
var cartsExample = filepath.Join("..", "..", "examples", "cartsstack")

var (
	cartsStacks = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "cartsstacks"}
	crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// cartsChild is one of the six children of a CartsStack, by resource id.
type cartsChild struct {
	id         string
	gvr        schema.GroupVersionResource
	namespaced bool
	name       string // "" means the stack's namespace name
}

var cartsChildren = []cartsChild{
	{id: "ns", gvr: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}},
	{id: "table", gvr: ackstandin.TableResource, namespaced: true, name: "items"},
	{id: "sa", gvr: schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, namespaced: true, name: "carts"},
	{id: "config", gvr: configMaps, namespaced: true, name: "carts"},
	{id: "deployment", gvr: deployments, namespaced: true, name: "carts"},
	{id: "service", gvr: schema.GroupVersionResource{Version: "v1", Resource: "services"}, namespaced: true, name: "carts"},
}

// childEvent is an ADDED or DELETED watch event of one child. rv is the
// event object's resourceVersion: on the local control plane (one etcd) it
// is the etcd revision of the write, so it orders writes across resources.
type childEvent struct {
	id   string
	typ  watch.EventType
	name string
	rv   int64
}

// childRecorder watches the children of one instance (by rgd's instance
// label) and records when each one is created and deleted.
type childRecorder struct {
	mu     sync.Mutex
	events []childEvent
	errs   []string
}

// watchChildren starts one watch per child kind; they stop with ctx.
func watchChildren(t *testing.T, ctx context.Context, dyn dynamic.Interface, instance, childNS string) *childRecorder {
	t.Helper()
	rec := &childRecorder{}
	selector := metadata.LabelInstanceName + "=" + instance
	for _, c := range cartsChildren {
		ri := dynamic.ResourceInterface(dyn.Resource(c.gvr))
		if c.namespaced {
			// Watching a namespace that does not exist yet is allowed.
			ri = dyn.Resource(c.gvr).Namespace(childNS)
		}
		w, err := ri.Watch(ctx, metav1.ListOptions{LabelSelector: selector})
		require.NoError(t, err, "watching %s", c.gvr.Resource)
		go rec.consume(ctx, c.id, w)
	}
	return rec
}

func (r *childRecorder) consume(ctx context.Context, id string, w watch.Interface) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				if ctx.Err() == nil {
					r.mu.Lock()
					r.errs = append(r.errs, "watch of "+id+" closed early")
					r.mu.Unlock()
				}
				return
			}
			if ev.Type != watch.Added && ev.Type != watch.Deleted {
				if ev.Type == watch.Error {
					r.mu.Lock()
					r.errs = append(r.errs, fmt.Sprintf("watch of %s: error event %v", id, ev.Object))
					r.mu.Unlock()
				}
				continue
			}
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			rv, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
			r.mu.Lock()
			if err != nil {
				r.errs = append(r.errs, fmt.Sprintf("%s: resourceVersion %q is not an etcd revision", id, obj.GetResourceVersion()))
			}
			r.events = append(r.events, childEvent{id: id, typ: ev.Type, name: obj.GetName(), rv: rv})
			r.mu.Unlock()
		}
	}
}

// snapshot returns the events so far, ordered by resourceVersion.
func (r *childRecorder) snapshot() ([]childEvent, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]childEvent(nil), r.events...)
	sort.Slice(out, func(i, j int) bool { return out[i].rv < out[j].rv })
	return out, append([]string(nil), r.errs...)
}

// eventsOf returns the events of one type, by child id.
func eventsOf(events []childEvent, typ watch.EventType) map[string][]childEvent {
	out := map[string][]childEvent{}
	for _, e := range events {
		if e.typ == typ {
			out[e.id] = append(out[e.id], e)
		}
	}
	return out
}

func describeEvents(events []childEvent) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%s %s/%s@%d; ", e.typ, e.id, e.name, e.rv)
	}
	return b.String()
}

// installTableCRD installs the example's reduced ACK Table CRD and waits
// until Tables are served.
func installTableCRD(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cartsExample, "table-crd.yaml"))
	require.NoError(t, err)
	crd := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal(data, &crd.Object))
	_, err = dyn.Resource(crdResource).Apply(context.Background(), crd.GetName(), crd,
		metav1.ApplyOptions{FieldManager: "test", Force: true})
	require.NoError(t, err)
	eventually(t, 30*time.Second, "Tables served", func() (bool, string) {
		_, err := dyn.Resource(ackstandin.TableResource).List(context.Background(), metav1.ListOptions{Limit: 1})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	// The engine resolves the Table's schema from the OpenAPI v3 document,
	// which the API server publishes a little after discovery serves the
	// kind (see bugs.md: the engine does not retry yet).
	dc, err := discovery.NewDiscoveryClientForConfig(devclustertest.Config())
	require.NoError(t, err)
	eventually(t, 30*time.Second, "Table OpenAPI v3 document published", func() (bool, string) {
		paths, err := dc.OpenAPIV3().Paths()
		if err != nil {
			return false, err.Error()
		}
		_, ok := paths["apis/dynamodb.services.k8s.aws/v1alpha1"]
		return ok, "not yet"
	})
}

// runACKStandin runs the local ACK stand-in until the test ends.
func runACKStandin(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ackstandin.Run(ctx, dyn, ackstandin.Options{Delay: 300 * time.Millisecond}) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "the ACK stand-in stopped with an error")
	})
}

func TestE2ECartsStack(t *testing.T) {
	dyn := startEngine(t)
	installTableCRD(t, dyn)
	runACKStandin(t, dyn)

	rgdYAML, err := os.ReadFile(filepath.Join(cartsExample, "rgd.yaml"))
	require.NoError(t, err)
	apply(t, dyn, "", string(rgdYAML))
	waitRGDActive(t, dyn, "cartsstack")

	// The instance lives in a test namespace; its children in a namespace of
	// their own, unique per run.
	instNS := devclustertest.Namespace(t)
	suffix := utilrand.String(6)
	instance := "carts-" + suffix
	childNS := "carts-" + suffix
	tableName := "carts-" + suffix + "-items"

	ctx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	rec := watchChildren(t, ctx, dyn, instance, childNS)
	t.Cleanup(func() {
		// Leave nothing behind when an assertion stopped the test early.
		_ = dyn.Resource(cartsStacks).Namespace(instNS).Delete(context.Background(), instance, metav1.DeleteOptions{})
	})

	instanceDoc := func(replicas int) string {
		return fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: CartsStack
metadata:
  name: %s
  namespace: NAMESPACE
spec:
  tableName: %s
  namespace: %s
  replicas: %d
`, instance, tableName, childNS, replicas)
	}
	apply(t, dyn, instNS, instanceDoc(1))

	// The instance turns ACTIVE: the Table is ACTIVE and the Deployment
	// available (both are readyWhen conditions of the example).
	inst := waitState(t, dyn, cartsStacks, instNS, instance, "ACTIVE", 120*time.Second)

	// Six children, each created once, the Deployment after the
	// ServiceAccount and the ConfigMap it names.
	events, errs := rec.snapshot()
	require.Empty(t, errs)
	added := eventsOf(events, watch.Added)
	for _, c := range cartsChildren {
		require.Len(t, added[c.id], 1, "child %s is created exactly once; events: %s", c.id, describeEvents(events))
	}
	dep := added["deployment"][0].rv
	assert.Less(t, added["sa"][0].rv, dep, "the ServiceAccount exists before the Deployment; events: %s", describeEvents(events))
	assert.Less(t, added["config"][0].rv, dep, "the ConfigMap exists before the Deployment; events: %s", describeEvents(events))

	// The Table is ACTIVE and its ARN is projected into the instance.
	table, err := get(dyn, ackstandin.TableResource, childNS, "items")
	require.NoError(t, err)
	tableStatus, _, _ := unstructured.NestedString(table.Object, "status", "tableStatus")
	assert.Equal(t, "ACTIVE", tableStatus)
	gotTableName, _, _ := unstructured.NestedString(table.Object, "spec", "tableName")
	assert.Equal(t, tableName, gotTableName)
	arn, _, _ := unstructured.NestedString(table.Object, "status", "ackResourceMetadata", "arn")
	require.NotEmpty(t, arn, "the ACK stand-in wrote the table's ARN")
	assert.True(t, strings.HasPrefix(arn, "arn:aws:dynamodb:"), "ARN %q", arn)
	assert.True(t, strings.HasSuffix(arn, ":table/"+tableName), "ARN %q names the table", arn)
	instArn, _, _ := unstructured.NestedString(inst.Object, "status", "tableArn")
	assert.Equal(t, arn, instArn, "status.tableArn shows the Table's ARN")

	// The Deployment is Available (kwok runs its pods).
	deployment, err := get(dyn, deployments, childNS, "carts")
	require.NoError(t, err)
	assert.True(t, deploymentAvailable(deployment), "Deployment conditions: %v", deployment.Object["status"])

	// The ConfigMap points the service at the table.
	cm, err := get(dyn, configMaps, childNS, "carts")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"RETAIL_CART_PERSISTENCE_PROVIDER":            "dynamodb",
		"RETAIL_CART_PERSISTENCE_DYNAMODB_TABLE_NAME": tableName,
	}, cm.Object["data"])

	// Changing replicas updates the Deployment; the instance settles ACTIVE
	// again once both replicas are available.
	apply(t, dyn, instNS, instanceDoc(2))
	eventually(t, 30*time.Second, "Deployment scaled to 2", func() (bool, string) {
		d, err := get(dyn, deployments, childNS, "carts")
		if err != nil {
			return false, err.Error()
		}
		r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
		return r == 2, fmt.Sprintf("spec.replicas %d", r)
	})
	eventually(t, 120*time.Second, "two replicas available and the instance ACTIVE", func() (bool, string) {
		d, err := get(dyn, deployments, childNS, "carts")
		if err != nil {
			return false, err.Error()
		}
		avail, _, _ := unstructured.NestedInt64(d.Object, "status", "availableReplicas")
		obj, err := get(dyn, cartsStacks, instNS, instance)
		if err != nil {
			return false, err.Error()
		}
		state, _, _ := unstructured.NestedString(obj.Object, "status", "state")
		return avail == 2 && state == "ACTIVE", fmt.Sprintf("available %d, instance %q", avail, state)
	})

	// Deleting the instance removes every child, the Namespace last.
	require.NoError(t, dyn.Resource(cartsStacks).Namespace(instNS).Delete(context.Background(), instance, metav1.DeleteOptions{}))
	eventually(t, 180*time.Second, "instance and children gone", func() (bool, string) {
		var left []string
		if _, err := get(dyn, cartsStacks, instNS, instance); !apierrors.IsNotFound(err) {
			left = append(left, "instance")
		}
		for _, c := range cartsChildren {
			ns, name := childNS, c.name
			if !c.namespaced {
				ns, name = "", childNS
			}
			if _, err := get(dyn, c.gvr, ns, name); !apierrors.IsNotFound(err) {
				left = append(left, c.id)
			}
		}
		return len(left) == 0, "still there: " + strings.Join(left, ", ")
	})
	// The watches may still be delivering the last DELETED events.
	eventually(t, 10*time.Second, "a DELETED event for every child", func() (bool, string) {
		events, _ := rec.snapshot()
		deleted := eventsOf(events, watch.Deleted)
		return len(deleted) == len(cartsChildren), describeEvents(events)
	})
	events, errs = rec.snapshot()
	require.Empty(t, errs)
	deleted := eventsOf(events, watch.Deleted)
	nsGone := deleted["ns"][0].rv
	for _, c := range cartsChildren {
		require.Len(t, deleted[c.id], 1, "child %s deleted once; events: %s", c.id, describeEvents(events))
		if c.id != "ns" {
			assert.Less(t, deleted[c.id][0].rv, nsGone, "%s is gone before the Namespace; events: %s", c.id, describeEvents(events))
		}
	}
	// Deletion runs in reverse dependency order: the Deployment goes before
	// the ServiceAccount and ConfigMap it names.
	assert.Less(t, deleted["deployment"][0].rv, deleted["sa"][0].rv, "events: %s", describeEvents(events))
	assert.Less(t, deleted["deployment"][0].rv, deleted["config"][0].rv, "events: %s", describeEvents(events))
	// No child was created again while the instance was being deleted.
	for id, adds := range eventsOf(events, watch.Added) {
		assert.Len(t, adds, 1, "child %s created once; events: %s", id, describeEvents(events))
	}
}

// deploymentAvailable reports whether a Deployment has the condition
// Available=True.
func deploymentAvailable(d *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(d.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Available" && m["status"] == "True" {
			return true
		}
	}
	return false
}
