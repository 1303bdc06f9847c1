package graph

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

const observedRGD = `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: observed
spec:
  schema:
    apiVersion: v1alpha1
    kind: Observed
    spec:
      name: string | required=true
    status:
      available: ${deployment.status.availableReplicas}
  resources:
  - id: deployment
    readyWhen:
    - ${deployment.?status.?observedGeneration.orValue(0) >= 1}
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
  - id: service
    readyWhen:
    - ${service.status != null}
    template:
      apiVersion: v1
      kind: Service
      metadata:
        name: ${deployment.metadata.name}
      spec:
        ports:
        - port: 80
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-config
      data:
        key: value
`

func compileObserved(t *testing.T) *Graph {
	t.Helper()
	docs, err := manifest.Read(strings.NewReader(observedRGD), "observed.yaml")
	require.NoError(t, err)
	rgd, err := docs[0].RGD()
	require.NoError(t, err)
	g, err := Compile(context.Background(), rgd, Options{Resolver: schemas.Builtin(), Cache: NewCache(0, 0)})
	require.NoError(t, err)
	return g
}

func deploymentObject() map[string]any {
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "resourceVersion": "10", "generation": int64(1),
			"labels": map[string]any{"app": "web"}},
		"spec": map[string]any{"replicas": int64(1)},
		"status": map[string]any{
			"observedGeneration": int64(1),
			"availableReplicas":  int64(0),
			"conditions": []any{map[string]any{"type": "Progressing", "status": "True",
				"lastUpdateTime": "2026-11-24T21:00:00Z"}},
		},
	}
}

// TestSeesChangeIgnoresUnreadStatus checks which updates of a child reach
// its instance: status fields no expression reads and the resourceVersion
// do not; everything else does.
func TestSeesChangeIgnoresUnreadStatus(t *testing.T) {
	g := compileObserved(t)
	dep := g.Resource("deployment")
	require.NotNil(t, dep)

	cases := []struct {
		name   string
		change func(o map[string]any)
		sees   bool
	}{
		{"nothing", func(map[string]any) {}, false},
		{"resourceVersion only", func(o map[string]any) { o["metadata"].(map[string]any)["resourceVersion"] = "11" }, false},
		{"unread condition timestamp", func(o map[string]any) {
			cond := o["status"].(map[string]any)["conditions"].([]any)[0].(map[string]any)
			cond["lastUpdateTime"] = "2026-11-24T21:05:00Z"
		}, false},
		{"unread status field added", func(o map[string]any) { o["status"].(map[string]any)["replicas"] = int64(1) }, false},
		{"status field the status projection reads", func(o map[string]any) {
			o["status"].(map[string]any)["availableReplicas"] = int64(1)
		}, true},
		{"status field readyWhen reads through optional selects", func(o map[string]any) {
			o["status"].(map[string]any)["observedGeneration"] = int64(2)
		}, true},
		{"status removed", func(o map[string]any) { delete(o, "status") }, true},
		{"spec", func(o map[string]any) { o["spec"].(map[string]any)["replicas"] = int64(3) }, true},
		{"label", func(o map[string]any) { o["metadata"].(map[string]any)["labels"].(map[string]any)["x"] = "y" }, true},
		{"deletion", func(o map[string]any) {
			o["metadata"].(map[string]any)["deletionTimestamp"] = "2026-11-24T21:05:00Z"
		}, true},
		{"generation", func(o map[string]any) { o["metadata"].(map[string]any)["generation"] = int64(2) }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := deploymentObject()
			cur := runtime.DeepCopyJSON(old)
			tc.change(cur)
			assert.Equal(t, tc.sees, dep.SeesChange(old, cur))
		})
	}
}

// TestSeesChangeWholeStatus: an expression reading the status itself sees
// every change of it; a resource whose status nothing reads sees none.
func TestSeesChangeWholeStatus(t *testing.T) {
	g := compileObserved(t)
	change := func(o map[string]any) { o["status"] = map[string]any{"loadBalancer": map[string]any{"x": "y"}} }

	svc := map[string]any{"metadata": map[string]any{"name": "web"}, "status": map[string]any{}}
	cur := runtime.DeepCopyJSON(svc)
	change(cur)
	assert.True(t, g.Resource("service").SeesChange(svc, cur), "service.status is read whole")
	assert.False(t, g.Resource("config").SeesChange(svc, cur), "nothing reads config's status")
}

// TestUsedFields checks the paths a cache of each resource's objects keeps:
// what the template sets, what the expressions read, and the identity.
func TestUsedFields(t *testing.T) {
	g := compileObserved(t)
	joined := func(id string) []string {
		var out []string
		for _, p := range g.Resource(id).UsedFields() {
			out = append(out, strings.Join(p, "."))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	assert.Equal(t, []string{
		"apiVersion", "kind", "metadata", "metadata.name",
		"spec.selector.matchLabels.app",
		"spec.template.metadata.labels.app",
		"spec.template.spec.containers.image", "spec.template.spec.containers.name",
		"status.availableReplicas", "status.observedGeneration",
	}, joined("deployment"))
	assert.Equal(t, []string{"apiVersion", "data.key", "kind", "metadata"}, joined("config"))
	assert.Equal(t, []string{"apiVersion", "kind", "metadata", "spec.ports.port", "status"}, joined("service"))
}
