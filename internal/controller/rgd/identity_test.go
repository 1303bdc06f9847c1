package rgd

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/pkg/graph"
)

// TestIdentity checks the effective identity of an RGD's children: its
// annotation, else the engine's default, else the engine's own unless a
// ServiceAccount is required; a default without a namespace cannot act for
// a cluster-scoped kind.
func TestIdentity(t *testing.T) {
	annotated := &graph.ServiceAccount{Name: "writer"}
	fixed := &graph.ServiceAccount{Namespace: "platform", Name: "engine-writer"}
	tenant := &graph.ServiceAccount{Name: "tenant-writer"}
	namespaced := &graph.Instance{GVK: schema.GroupVersionKind{Kind: "App"}, Namespaced: true}
	cluster := &graph.Instance{GVK: schema.GroupVersionKind{Kind: "Tenant"}}
	for _, tc := range []struct {
		name        string
		opts        Options
		g           *graph.Graph
		want        *graph.ServiceAccount
		wantRefusal string
	}{
		{"engine's own", Options{}, &graph.Graph{Instance: namespaced}, nil, ""},
		{"annotation", Options{DefaultServiceAccount: fixed, RequireServiceAccount: true}, &graph.Graph{Instance: namespaced, ServiceAccount: annotated}, annotated, ""},
		{"default", Options{DefaultServiceAccount: fixed, RequireServiceAccount: true}, &graph.Graph{Instance: cluster}, fixed, ""},
		{"required", Options{RequireServiceAccount: true}, &graph.Graph{Instance: namespaced}, nil, "names none: annotate the ResourceGraphDefinition rgd.dev/service-account"},
		{"default without namespace, cluster-scoped", Options{DefaultServiceAccount: tenant}, &graph.Graph{Instance: cluster}, nil,
			`the engine's default service account "tenant-writer" names no namespace, and instances of the cluster-scoped kind Tenant have none`},
		{"default without namespace, namespaced", Options{DefaultServiceAccount: tenant}, &graph.Graph{Instance: namespaced}, tenant, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, refusal := (&Controller{opts: tc.opts}).identity(tc.g)
			assert.Equal(t, tc.want, got)
			if tc.wantRefusal == "" {
				assert.Empty(t, refusal)
			} else {
				assert.Contains(t, refusal, tc.wantRefusal)
			}
		})
	}
}

func TestKindReadyConditionNamesTheIdentity(t *testing.T) {
	assert.Equal(t, "kind App has been accepted and ready", kindReadyCondition("App", nil).message)
	assert.Equal(t, "kind App has been accepted and ready; children are written as serviceaccount platform/writer",
		kindReadyCondition("App", &graph.ServiceAccount{Namespace: "platform", Name: "writer"}).message)
}
