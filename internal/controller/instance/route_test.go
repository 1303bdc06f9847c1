package instance

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/internal/watch"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

const routedRGD = `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: routed
spec:
  schema:
    apiVersion: v1alpha1
    kind: Routed
    spec:
      name: string | required=true
    status:
      available: ${deployment.status.availableReplicas}
  resources:
  - id: deployment
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.spec.name}
      spec:
        selector:
          matchLabels: {app: web}
        template:
          metadata:
            labels: {app: web}
          spec:
            containers:
            - name: web
              image: nginx
`

// TestChildUpdatesThatChangeNothingAreNotRouted checks that an update of a
// child reaches its instance's queue only when it changes something the
// graph reads or rgd compares: not a status field nothing reads. The child
// is found in the graph by its node-id label, also when that is the hash of
// an id too long for a label.
func TestChildUpdatesThatChangeNothingAreNotRouted(t *testing.T) {
	for _, id := range []string{"deployment", "deploymentOfTheWebFrontEndThatServesEveryCustomerOfTheShopInEurope"} {
		t.Run(strconv.Itoa(len(id)), func(t *testing.T) { testChildUpdateRouting(t, id) })
	}
}

func testChildUpdateRouting(t *testing.T, id string) {
	docs, err := manifest.Read(strings.NewReader(strings.ReplaceAll(routedRGD, "deployment", id)), "routed.yaml")
	require.NoError(t, err)
	rgd, err := docs[0].RGD()
	require.NoError(t, err)
	g, err := graph.Compile(context.Background(), rgd, graph.Options{Resolver: schemas.Builtin(), Cache: graph.NewCache(0, 0)})
	require.NoError(t, err)

	r := New(nil, nil, Options{})
	defer r.loop.ShutDown()
	inst := g.Instance.Resource
	r.kinds[inst] = &kindState{kind: Kind{Graph: g}, gvr: inst, layout: newLayout(g)}
	r.byGroupKind[schema.GroupKind{Group: inst.Group, Kind: g.Instance.GVK.Kind}] = inst

	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	handle := r.childHandler(childKey(deployments))
	child := func(rv string, status map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": "ns", "resourceVersion": rv, "labels": map[string]any{
				metadata.LabelOwned: "true", metadata.LabelNodeID: metadata.NodeIDLabel(id),
				metadata.LabelInstanceGroup: inst.Group, metadata.LabelInstanceKind: g.Instance.GVK.Kind,
				metadata.LabelInstanceName: "app", metadata.LabelInstanceNamespace: "ns",
			}},
			"status": status,
		}}
	}
	update := func(old, cur *unstructured.Unstructured) int {
		handle(watch.Event{Type: watch.Updated, GVR: deployments, Old: old, Object: cur})
		return r.loop.Drain()
	}

	v1 := child("1", map[string]any{"conditions": []any{"a"}})
	assert.Equal(t, 0, update(v1, child("2", map[string]any{"conditions": []any{"b"}})), "an unread status field changed")
	assert.Equal(t, 1, update(v1, child("2", map[string]any{"conditions": []any{"a"}, "availableReplicas": int64(1)})), "a read status field changed")
	changedLabel := child("2", map[string]any{"conditions": []any{"a"}})
	changedLabel.Object["metadata"].(map[string]any)["labels"].(map[string]any)["extra"] = "x"
	assert.Equal(t, 1, update(v1, changedLabel), "a label changed")

	// Added and Deleted events always reach the instance.
	handle(watch.Event{Type: watch.Added, GVR: deployments, Object: v1})
	assert.Equal(t, 1, r.loop.Len())
}

// TestRoutes checks which instances an event of an object they read but do
// not own reaches: those that read it by name, and those whose selector
// matches it (or matched it before an update), each once; a resource whose
// selector changed reads only by the new one; an instance that is gone reads
// nothing.
func TestRoutes(t *testing.T) {
	configMaps := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	a := Key{GVR: schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}, Namespace: "ns", Name: "a"}
	b := Key{GVR: a.GVR, Namespace: "ns", Name: "b"}
	obj := func(namespace, name string, label ...string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetNamespace(namespace)
		u.SetName(name)
		if len(label) == 2 {
			u.SetLabels(map[string]string{label[0]: label[1]})
		}
		return u
	}
	blue := labels.SelectorFromSet(labels.Set{"team": "blue"})
	red := labels.SelectorFromSet(labels.Set{"team": "red"})
	for _, tc := range []struct {
		name  string
		setup func(rt *routes)
		gvr   schema.GroupVersionResource
		obj   *unstructured.Unstructured
		old   *unstructured.Unstructured // the previous state, for an update
		want  []Key
	}{
		{name: "nothing tracked", setup: func(*routes) {}, gvr: configMaps, obj: obj("ns", "cfg")},
		{name: "by name", setup: func(rt *routes) { rt.trackExternal(a, configMaps, "ns", "cfg") },
			gvr: configMaps, obj: obj("ns", "cfg"), want: []Key{a}},
		{name: "another name", setup: func(rt *routes) { rt.trackExternal(a, configMaps, "ns", "cfg") },
			gvr: configMaps, obj: obj("ns", "other")},
		{name: "another namespace", setup: func(rt *routes) { rt.trackExternal(a, configMaps, "ns", "cfg") },
			gvr: configMaps, obj: obj("elsewhere", "cfg")},
		{name: "another resource", setup: func(rt *routes) { rt.trackExternal(a, configMaps, "ns", "cfg") },
			gvr: secrets, obj: obj("ns", "cfg")},
		{name: "two readers", setup: func(rt *routes) {
			rt.trackExternal(a, configMaps, "ns", "cfg")
			rt.trackExternal(b, configMaps, "ns", "cfg")
		}, gvr: configMaps, obj: obj("ns", "cfg"), want: []Key{a, b}},
		{name: "by an empty selector: any object of the resource", setup: func(rt *routes) { rt.trackSelector(b, "peers", configMaps, "", labels.Everything()) },
			gvr: configMaps, obj: obj("anywhere", "any"), want: []Key{b}},
		{name: "by selector: a matching object", setup: func(rt *routes) { rt.trackSelector(b, "peers", configMaps, "", blue) },
			gvr: configMaps, obj: obj("anywhere", "any", "team", "blue"), want: []Key{b}},
		{name: "by selector: an object it does not match", setup: func(rt *routes) { rt.trackSelector(b, "peers", configMaps, "", blue) },
			gvr: configMaps, obj: obj("ns", "cfg", "team", "red")},
		{name: "by selector: an object that left it", setup: func(rt *routes) { rt.trackSelector(b, "peers", configMaps, "", blue) },
			gvr: configMaps, old: obj("ns", "cfg", "team", "blue"), obj: obj("ns", "cfg", "team", "red"), want: []Key{b}},
		{name: "by selector in a namespace: an object of another", setup: func(rt *routes) { rt.trackSelector(b, "peers", configMaps, "ns", blue) },
			gvr: configMaps, obj: obj("elsewhere", "cfg", "team", "blue")},
		{name: "by selector: another resource", setup: func(rt *routes) { rt.trackSelector(b, "peers", configMaps, "", blue) },
			gvr: secrets, obj: obj("ns", "cfg", "team", "blue")},
		{name: "by a changed selector: only the new one", setup: func(rt *routes) {
			rt.trackSelector(b, "peers", configMaps, "", blue)
			rt.trackSelector(b, "peers", configMaps, "", red)
		}, gvr: configMaps, obj: obj("ns", "cfg", "team", "blue")},
		{name: "by a selector moved to another resource: only the new one", setup: func(rt *routes) {
			rt.trackSelector(b, "peers", configMaps, "", blue)
			rt.trackSelector(b, "peers", secrets, "", blue)
		}, gvr: configMaps, obj: obj("ns", "cfg", "team", "blue")},
		{name: "by a selector that became invalid: nothing", setup: func(rt *routes) {
			rt.trackSelector(b, "peers", configMaps, "", blue)
			rt.untrackSelector(b, "peers")
		}, gvr: configMaps, obj: obj("ns", "cfg", "team", "blue")},
		{name: "by two resources' selectors: each its own", setup: func(rt *routes) {
			rt.trackSelector(a, "peers", configMaps, "", blue)
			rt.trackSelector(b, "peers", configMaps, "", red)
			rt.trackSelector(b, "others", configMaps, "", blue)
		}, gvr: configMaps, obj: obj("ns", "cfg", "team", "blue"), want: []Key{a, b}},
		{name: "by name and by selector: listed once", setup: func(rt *routes) {
			rt.trackExternal(a, configMaps, "ns", "cfg")
			rt.trackSelector(a, "peers", configMaps, "", labels.Everything())
			rt.trackSelector(b, "peers", configMaps, "", labels.Everything())
			rt.trackSelector(b, "others", configMaps, "", labels.Everything())
		}, gvr: configMaps, obj: obj("ns", "cfg"), want: []Key{a, b}},
		{name: "tracked twice: listed once", setup: func(rt *routes) {
			rt.trackExternal(a, configMaps, "ns", "cfg")
			rt.trackExternal(a, configMaps, "ns", "cfg")
		}, gvr: configMaps, obj: obj("ns", "cfg"), want: []Key{a}},
		{name: "forgotten", setup: func(rt *routes) {
			rt.trackExternal(a, configMaps, "ns", "cfg")
			rt.trackSelector(a, "peers", configMaps, "", labels.Everything())
			rt.trackExternal(b, configMaps, "ns", "cfg")
			rt.forget(a)
		}, gvr: configMaps, obj: obj("ns", "cfg"), want: []Key{b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &routes{}
			tc.setup(rt)
			assert.ElementsMatch(t, tc.want, rt.instancesReading(tc.gvr, tc.obj, tc.old))
		})
	}
}

// TestRoutesForgetLeavesNothing checks that routes do not grow with the
// instances that came and went.
func TestRoutesForgetLeavesNothing(t *testing.T) {
	configMaps := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	rt := &routes{}
	for i := range 10 {
		k := Key{Namespace: "ns", Name: strconv.Itoa(i)}
		rt.trackExternal(k, configMaps, "ns", "cfg-"+k.Name)
		rt.trackSelector(k, "peers", configMaps, "ns", labels.Everything())
		rt.forget(k)
	}
	assert.Empty(t, rt.byName)
	assert.Empty(t, rt.bySelector)
}

// TestExternalEventsReachTheirReaders checks that the handler of an external
// kind's informer enqueues the instances that read the object.
func TestExternalEventsReachTheirReaders(t *testing.T) {
	r := New(nil, nil, Options{})
	defer r.loop.ShutDown()
	configMaps := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	a := Key{GVR: schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}, Namespace: "ns", Name: "a"}
	r.routes.trackExternal(a, configMaps, "ns", "cfg")
	handle := r.childHandler(watch.Key{GVR: configMaps})
	cfg := &unstructured.Unstructured{}
	cfg.SetNamespace("ns")
	cfg.SetName("cfg")
	handle(watch.Event{Type: watch.Updated, GVR: configMaps, Old: cfg, Object: cfg})
	assert.Equal(t, 1, r.loop.Drain())
	cfg.SetName("other")
	handle(watch.Event{Type: watch.Added, GVR: configMaps, Object: cfg})
	assert.Equal(t, 0, r.loop.Drain())
}

// TestSelectorEventsReachTheirReaders checks that the handler of an external
// kind's informer enqueues an instance reading by selector for the objects
// its selector matches, and for an object whose update takes it out of the
// selection, but not for the others.
func TestSelectorEventsReachTheirReaders(t *testing.T) {
	r := New(nil, nil, Options{})
	defer r.loop.ShutDown()
	configMaps := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	a := Key{GVR: schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}, Namespace: "ns", Name: "a"}
	r.routes.trackSelector(a, "peers", configMaps, "ns", labels.SelectorFromSet(labels.Set{"team": "blue"}))
	handle := r.childHandler(watch.Key{GVR: configMaps})
	cm := func(team string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetNamespace("ns")
		u.SetName("cfg")
		u.SetLabels(map[string]string{"team": team})
		return u
	}
	handle(watch.Event{Type: watch.Added, GVR: configMaps, Object: cm("blue")})
	assert.Equal(t, 1, r.loop.Drain(), "a matching object")
	handle(watch.Event{Type: watch.Updated, GVR: configMaps, Old: cm("blue"), Object: cm("red")})
	assert.Equal(t, 1, r.loop.Drain(), "an object leaving the selection")
	handle(watch.Event{Type: watch.Added, GVR: configMaps, Object: cm("red")})
	handle(watch.Event{Type: watch.Updated, GVR: configMaps, Old: cm("red"), Object: cm("green")})
	assert.Equal(t, 0, r.loop.Drain(), "objects the selector never matched")
}

// TestForgetTellsSubscribers checks that every subscriber hears of an
// instance that is gone, and that what the instance read is forgotten.
func TestForgetTellsSubscribers(t *testing.T) {
	r := New(nil, nil, Options{})
	defer r.loop.ShutDown()
	a := Key{GVR: schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}, Namespace: "ns", Name: "a"}
	var heard []schema.GroupVersionResource
	r.SubscribeInstanceGone(func(gvr schema.GroupVersionResource) { heard = append(heard, gvr) })
	r.SubscribeInstanceGone(func(gvr schema.GroupVersionResource) { heard = append(heard, gvr) })
	configMaps := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	r.routes.trackSelector(a, "peers", configMaps, "", labels.Everything())
	r.forget(a)
	assert.Equal(t, []schema.GroupVersionResource{a.GVR, a.GVR}, heard)
	assert.Empty(t, r.routes.instancesReading(configMaps, &unstructured.Unstructured{}, nil))
}
