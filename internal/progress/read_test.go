package progress

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// resettable is a static RESTMapper with the Reset that Reader needs.
type resettable struct{ meta.RESTMapper }

func (resettable) Reset() {}

var (
	shopGVK       = schema.GroupVersionKind{Group: "shop.example.com", Version: "v1", Kind: "Shop"}
	shopGVR       = shopGVK.GroupVersion().WithResource("shops")
	configMapGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaceGVR  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	deploymentGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func object(fields map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: fields}
}

func shopRGD() map[string]any {
	return map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "ResourceGraphDefinition",
		"metadata": map[string]any{"name": "shop"},
		"spec": map[string]any{
			"schema": map[string]any{"apiVersion": "v1", "group": "shop.example.com", "kind": "Shop"},
			"resources": []any{
				map[string]any{"id": "ns", "template": map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "${schema.metadata.name}"}}},
				map[string]any{"id": "web", "template": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"}}},
				map[string]any{"id": "later", "template": map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "later"}}},
				map[string]any{"id": "settings", "externalRef": map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}}},
				map[string]any{"id": "missing", "externalRef": map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "missing"}}},
				map[string]any{"id": "unserved", "externalRef": map[string]any{"apiVersion": "other.example.com/v1", "kind": "Thing", "metadata": map[string]any{"name": "x"}}},
			},
		},
		"status": map[string]any{
			"state":            "Active",
			"topologicalOrder": []any{"settings", "missing", "unserved", "ns", "web", "later"},
		},
	}
}

func child(apiVersion, kind, namespace, name, instanceUID string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetLabels(map[string]string{metadata.LabelInstanceID: instanceUID})
	return u
}

func TestReaderReadsTheInstanceAndItsInventory(t *testing.T) {
	inv, err := json.Marshal(inventory.Inventory{
		{APIVersion: "v1", Kind: "Namespace", Resource: "namespaces", Name: "my-shop", Node: "ns"},
		{APIVersion: "apps/v1", Kind: "Deployment", Resource: "deployments", Namespace: "my-shop", Name: "web", Node: "web"},
		{APIVersion: "apps/v1", Kind: "Deployment", Resource: "deployments", Namespace: "my-shop", Name: "web-canary", Node: "web"},
		{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "my-shop", Name: "later", Node: "later"},
	})
	require.NoError(t, err)
	shop := object(map[string]any{
		"apiVersion": "shop.example.com/v1", "kind": "Shop",
		"metadata": map[string]any{"name": "my-shop", "namespace": "default", "uid": "uid-1",
			"annotations": map[string]any{metadata.AnnotationInventory: string(inv)}},
		"status": map[string]any{
			"state": "IN_PROGRESS",
			"conditions": []any{
				map[string]any{"type": "InstanceManaged", "status": "True", "reason": "Managed"},
				map[string]any{"type": "Ready", "status": "False", "reason": "NotReady", "message": "awaiting web"},
			},
		},
	})
	objects := []runtime.Object{
		object(shopRGD()), shop,
		child("v1", "Namespace", "", "my-shop", "uid-1"),
		child("apps/v1", "Deployment", "my-shop", "web", "uid-1"),
		child("apps/v1", "Deployment", "my-shop", "web-canary", "uid-1"),
		child("v1", "ConfigMap", "my-shop", "later", "uid-other"), // same name, another instance's
		child("v1", "ConfigMap", "default", "settings", ""),
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		v1alpha1.ResourceGraphDefinitionResource: "ResourceGraphDefinitionList",
		shopGVR:                                  "ShopList",
		configMapGVR:                             "ConfigMapList",
		namespaceGVR:                             "NamespaceList",
		deploymentGVR:                            "DeploymentList",
	}, objects...)
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(shopGVK, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)

	r := NewReader(dyn, resettable{mapper})
	given := object(map[string]any{"apiVersion": "shop.example.com/v1", "kind": "Shop", "metadata": map[string]any{"name": "my-shop"}})
	other := object(map[string]any{"apiVersion": "web.example.com/v1", "kind": "Web", "metadata": map[string]any{"name": "site"}})
	snap := r.Snapshot(context.Background(), []*unstructured.Unstructured{object(shopRGD())}, []*unstructured.Unstructured{given, other})

	require.Len(t, snap, 1)
	assert.Equal(t, v1alpha1.StateActive, snap[0].State)
	require.Len(t, snap[0].Instances, 1, "only the instances of the RGD's kind")
	in := snap[0].Instances[0]
	assert.Equal(t, "Shop default/my-shop", in.Ref(), "a namespaced instance without namespace is in default")
	assert.True(t, in.Found)
	assert.Equal(t, v1alpha1.InstanceStateInProgress, in.State)
	assert.Equal(t, "awaiting web", in.ReadyMessage)
	assert.Len(t, in.Conditions, 2)
	assert.Equal(t, []Resource{
		{ID: "settings", APIVersion: "v1", Kind: "ConfigMap", Name: "default/settings", Objects: []ObjectRef{{"default", "settings"}}, State: ResourceFound},
		{ID: "missing", APIVersion: "v1", Kind: "ConfigMap", Name: "missing", Objects: []ObjectRef{{"default", "missing"}}, State: ResourceExternal},
		{ID: "unserved", APIVersion: "other.example.com/v1", Kind: "Thing", Name: "x", State: ResourceWaiting},
		{ID: "ns", APIVersion: "v1", Kind: "Namespace", Name: "my-shop", Objects: []ObjectRef{{"", "my-shop"}}, State: ResourceCreated},
		{ID: "web", APIVersion: "apps/v1", Kind: "Deployment", Name: "my-shop/web (+1 more)", Objects: []ObjectRef{{"my-shop", "web"}, {"my-shop", "web-canary"}}, State: ResourceCreated},
		{ID: "later", APIVersion: "v1", Kind: "ConfigMap", Name: "later", State: ResourceWaiting},
	}, in.Resources)
	assert.False(t, in.Judged, "a Reader without schemas does not judge")
	assert.Equal(t, "shop", in.RGD)
	assert.Equal(t, metav1.ConditionFalse, in.Ready)
}

func TestReaderShowsAnUnreadableRGDAsGiven(t *testing.T) {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		v1alpha1.ResourceGraphDefinitionResource: "ResourceGraphDefinitionList",
	})
	r := NewReader(dyn, resettable{meta.NewDefaultRESTMapper(nil)})
	given := object(map[string]any{"apiVersion": "shop.example.com/v1", "kind": "Shop", "metadata": map[string]any{"name": "my-shop"}})
	snap := r.Snapshot(context.Background(), []*unstructured.Unstructured{object(shopRGD())}, []*unstructured.Unstructured{given})
	require.Len(t, snap, 1)
	assert.Equal(t, StateUnreadable, snap[0].State)
	require.Len(t, snap[0].Instances, 1, "the instances of the kind the given RGD defines")
	assert.Equal(t, Instance{Kind: "Shop", Name: "my-shop"}, snap[0].Instances[0], "its kind is not served")
}
