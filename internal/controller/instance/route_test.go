package instance

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
// graph reads or rgd compares: not a status field nothing reads.
func TestChildUpdatesThatChangeNothingAreNotRouted(t *testing.T) {
	docs, err := manifest.Read(strings.NewReader(routedRGD), "routed.yaml")
	require.NoError(t, err)
	rgd, err := docs[0].RGD()
	require.NoError(t, err)
	g, err := graph.Compile(context.Background(), rgd, graph.Options{Resolver: schemas.Builtin(), Cache: graph.NewCache(0, 0)})
	require.NoError(t, err)

	r := New(nil, nil, Options{})
	defer r.loop.ShutDown()
	inst := g.Instance.Resource
	r.kinds[inst] = &kindState{kind: Kind{Graph: g}, gvr: inst}
	r.byGroupKind[schema.GroupKind{Group: inst.Group, Kind: g.Instance.GVK.Kind}] = inst

	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	handle := r.childHandler(childKey(deployments))
	child := func(rv string, status map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": "ns", "resourceVersion": rv, "labels": map[string]any{
				metadata.LabelOwned: "true", metadata.LabelNodeID: "deployment",
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
