package render

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

func compile(t *testing.T, yamlText string) *graph.Graph {
	t.Helper()
	docs, err := manifest.Read(stringsReader(yamlText), "test.yaml")
	require.NoError(t, err)
	rgd, err := docs[0].RGD()
	require.NoError(t, err)
	g, err := graph.Compile(context.Background(), rgd, graph.Options{Resolver: schemas.Builtin()})
	require.NoError(t, err)
	return g
}

const app = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: app
spec:
  schema:
    apiVersion: v1alpha1
    kind: App
    spec:
      name: string | required=true
      replicas: integer | default=2
      expose: boolean | default=false
      tenants: "[]string | maxItems=10"
      labels: map[string]string
    status:
      ready: ${deployment.?status.?availableReplicas.orValue(0) == schema.spec.replicas}
      url: http://${service.metadata.name}:80
      available: ${deployment.status.availableReplicas}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
        labels: ${schema.spec.labels}
      data:
        replicas: ${string(schema.spec.replicas)}
        optional: '${schema.spec.expose ? "yes" : omit()}'
  - id: deployment
    readyWhen:
    - ${deployment.?status.?availableReplicas.orValue(0) == deployment.spec.replicas}
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.spec.name}
      spec:
        replicas: ${schema.spec.replicas}
        selector:
          matchLabels: {app: web}
        template:
          metadata:
            labels: {app: web}
          spec:
            containers:
            - name: web
              image: nginx
              envFrom:
              - configMapRef:
                  name: ${config.metadata.name}
  - id: service
    includeWhen:
    - ${schema.spec.expose}
    template:
      apiVersion: v1
      kind: Service
      metadata:
        name: ${deployment.metadata.name}-svc
      spec:
        ports:
        - port: 80
  - id: tenants
    forEach:
    - tenant: ${schema.spec.tenants}
    readyWhen:
    - ${each.metadata.name != ""}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-${tenant}
`

func instance(spec map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "App",
		"metadata": map[string]any{"name": "demo", "namespace": "team"},
		"spec":     spec,
	}
}

func TestRenderFillsTemplatesAndDefaultsNamespace(t *testing.T) {
	g := compile(t, app)
	in := NewInputs(g, instance(map[string]any{"name": "web", "replicas": int64(3), "expose": false, "labels": map[string]any{"team": "a"}}), nil)
	res, err := Resource(g.Resource("config"), in, "team", Options{})
	require.NoError(t, err)
	require.True(t, res.Included)
	require.Empty(t, res.Pending)
	require.Len(t, res.Objects, 1)
	cm := res.Objects[0]
	assert.Equal(t, map[string]any{"name": "web", "namespace": "team", "labels": map[string]any{"team": "a"}}, cm["metadata"])
	assert.Equal(t, map[string]any{"replicas": "3"}, cm["data"], "omit() removes the field")
}

func TestRenderWaitsForDependencies(t *testing.T) {
	g := compile(t, app)
	in := NewInputs(g, instance(map[string]any{"name": "web", "replicas": int64(1)}), nil)
	res, err := Resource(g.Resource("deployment"), in, "team", Options{})
	require.NoError(t, err)
	require.Len(t, res.Pending, 1)
	assert.Equal(t, "deployment", res.Pending[0].Resource)
	assert.Equal(t, "spec.template.spec.containers[0].envFrom[0].configMapRef.name", res.Pending[0].Field)
	assert.Equal(t, "config.metadata.name", res.Pending[0].Expression)

	in.Set("config", map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "web"}})
	res, err = Resource(g.Resource("deployment"), in, "team", Options{})
	require.NoError(t, err)
	require.Empty(t, res.Pending)
	spec := res.Objects[0]["spec"].(map[string]any)
	assert.Equal(t, int64(1), spec["replicas"])
}

func TestRenderIncludeWhen(t *testing.T) {
	g := compile(t, app)
	in := NewInputs(g, instance(map[string]any{"name": "web", "expose": false}), nil)
	res, err := Resource(g.Resource("service"), in, "team", Options{})
	require.NoError(t, err)
	assert.False(t, res.Included)
}

func TestRenderForEach(t *testing.T) {
	g := compile(t, app)
	in := NewInputs(g, instance(map[string]any{"name": "web", "tenants": []any{"a", "b"}}), nil)
	res, err := Resource(g.Resource("tenants"), in, "team", Options{})
	require.NoError(t, err)
	require.Len(t, res.Objects, 2)
	assert.Equal(t, "web-a", res.Objects[0]["metadata"].(map[string]any)["name"])
	assert.Equal(t, "web-b", res.Objects[1]["metadata"].(map[string]any)["name"])

	_, err = Resource(g.Resource("tenants"), in, "team", Options{MaxCollectionSize: 1})
	require.ErrorContains(t, err, "more than 1 objects")

	empty := NewInputs(g, instance(map[string]any{"name": "web", "tenants": []any{}}), nil)
	res, err = Resource(g.Resource("tenants"), empty, "team", Options{})
	require.NoError(t, err)
	assert.Empty(t, res.Objects)
}

func TestReady(t *testing.T) {
	g := compile(t, app)
	d := g.Resource("deployment")
	ok, _, err := Ready(d, nil)
	require.NoError(t, err)
	assert.False(t, ok, "not observed is not ready")

	obs := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"replicas": int64(2)}}
	ok, reason, err := Ready(d, obs)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Contains(t, reason, "is false")

	obs["status"] = map[string]any{"availableReplicas": int64(2)}
	ok, _, err = Ready(d, obs)
	require.NoError(t, err)
	assert.True(t, ok)

	c := g.Resource("config")
	ok, _, err = Ready(c, map[string]any{"metadata": map[string]any{"name": "x"}})
	require.NoError(t, err)
	assert.True(t, ok, "without readyWhen, observed means ready")

	items := []any{map[string]any{"metadata": map[string]any{"name": "a"}}, map[string]any{"metadata": map[string]any{"name": ""}}}
	ok, reason, err = Ready(g.Resource("tenants"), items)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Contains(t, reason, "item 1")
}

func TestStatusLeavesPendingFieldsOut(t *testing.T) {
	g := compile(t, app)
	in := NewInputs(g, instance(map[string]any{"name": "web", "replicas": int64(2)}), nil)
	in.Set("deployment", map[string]any{"metadata": map[string]any{"name": "web"}, "spec": map[string]any{"replicas": int64(2)}})
	status, pending, err := Status(g, in)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"ready": false}, status)
	require.Len(t, pending, 2)

	in.Set("service", map[string]any{"metadata": map[string]any{"name": "web-svc"}})
	in.Set("deployment", map[string]any{"metadata": map[string]any{"name": "web"}, "status": map[string]any{"availableReplicas": int64(2)}})
	status, pending, err = Status(g, in)
	require.NoError(t, err)
	assert.Empty(t, pending)
	assert.Equal(t, map[string]any{"ready": true, "url": "http://web-svc:80", "available": int64(2)}, status)
}

// TestEvaluationsAreObservedPerInputs checks that the evaluation observer
// belongs to the inputs it was set on: two passes (two engines, say) each
// count their own evaluations, and inputs without one report nothing.
func TestEvaluationsAreObservedPerInputs(t *testing.T) {
	g := compile(t, app)
	counter := func(n *int) Observer { return func(time.Duration) { *n++ } }
	var first, second int
	a := NewInputs(g, instance(map[string]any{"name": "web", "replicas": int64(3)}), nil).ObserveEvaluations(counter(&first))
	b := NewInputs(g, instance(map[string]any{"name": "api", "replicas": int64(1)}), nil).ObserveEvaluations(counter(&second))
	plain := NewInputs(g, instance(map[string]any{"name": "db", "replicas": int64(1)}), nil)

	_, err := Resource(g.Resource("config"), a, "team", Options{})
	require.NoError(t, err)
	assert.Positive(t, first, "rendering with a's inputs is observed by a's observer")
	assert.Zero(t, second, "and not by b's")

	before := first
	_, err = Resource(g.Resource("config"), plain, "team", Options{})
	require.NoError(t, err)
	assert.Equal(t, before, first, "inputs without an observer report to nobody")

	deployment := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "api"},
		"spec": map[string]any{"replicas": int64(1)}, "status": map[string]any{"availableReplicas": int64(1)}}
	ok, _, err := b.Ready(g.Resource("deployment"), deployment)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Positive(t, second, "readyWhen evaluated through b's inputs is observed by b's observer")
	assert.Equal(t, before, first)
}

const selected = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: selected
spec:
  schema:
    apiVersion: v1alpha1
    kind: Selected
    spec:
      selector: object
  resources:
  - id: peers
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        selector: ${schema.spec.selector}
`

// TestRenderWholeSelector checks that a selector given as one expression
// renders to the instance's value as it is, at every render, and that the
// shape check of the rendered selector (graph.LabelSelector) accepts only a
// label selector: a misspelled field, a bare map or a string fail.
func TestRenderWholeSelector(t *testing.T) {
	g := compile(t, selected)
	peers := g.Resource("peers")
	require.True(t, peers.IsCollection())
	for _, tc := range []struct {
		name     string
		selector any
		want     string // the selector, or
		problem  string // what is wrong with it
	}{
		{name: "matchLabels", selector: map[string]any{"matchLabels": map[string]any{"team": "blue"}}, want: "team=blue"},
		{name: "matchExpressions", selector: map[string]any{"matchExpressions": []any{
			map[string]any{"key": "team", "operator": "In", "values": []any{"blue", "red"}}}}, want: "team in (blue,red)"},
		{name: "misspelled matchLabel", selector: map[string]any{"matchLabel": map[string]any{"team": "blue"}},
			problem: "metadata.selector.matchLabel: Forbidden: not a field of a label selector"},
		{name: "bare map of labels", selector: map[string]any{"team": "blue"},
			problem: "(a map of labels belongs under matchLabels)"},
		{name: "string", selector: "team=blue", problem: `metadata.selector: Invalid value: "team=blue"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := NewInputs(g, instance(map[string]any{"selector": tc.selector}), nil)
			res, err := Resource(peers, in, "team", Options{})
			require.NoError(t, err)
			require.Len(t, res.Objects, 1)
			md := res.Objects[0]["metadata"].(map[string]any)
			assert.Equal(t, tc.selector, md["selector"])
			assert.NotContains(t, md, "namespace", "a selector without a namespace looks in every namespace")
			sel, err := graph.LabelSelector(md["selector"], field.NewPath("metadata", "selector"))
			if tc.problem != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.problem)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, sel.String())
		})
	}
}
