package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/crds"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// An RGD CRD installed before status.conditions was a list map keyed by
// type (as kro v0.9's is) is updated by installCRD, which then leaves it
// alone; the API server then refuses two conditions of one type. It runs on
// a control plane of its own: the package's shared one serves the RGDs of
// the other tests.
func TestInstallCRDUpdatesOlderCRD(t *testing.T) {
	devclustertest.RequireCluster(t)
	ctx := context.Background()
	cluster, err := devcluster.Start(ctx, devcluster.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cluster.Stop()) })
	ext, err := apiextensionsclientset.NewForConfig(cluster.RESTConfig())
	require.NoError(t, err)
	api := ext.ApiextensionsV1().CustomResourceDefinitions()

	older, err := crds.ResourceGraphDefinitions()
	require.NoError(t, err)
	status := older.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"]
	conds := status.Properties["conditions"]
	require.NotNil(t, conds.XListType, "the embedded CRD makes status.conditions a list map")
	conds.XListType, conds.XListMapKeys = nil, nil
	status.Properties["conditions"] = conds
	older.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"] = status
	_, err = api.Create(ctx, older, metav1.CreateOptions{})
	require.NoError(t, err)

	require.NoError(t, installCRD(ctx, ext))
	got, err := api.Get(ctx, older.Name, metav1.GetOptions{})
	require.NoError(t, err)
	conds = got.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["conditions"]
	require.NotNil(t, conds.XListType)
	assert.Equal(t, "map", *conds.XListType)
	assert.Equal(t, []string{"type"}, conds.XListMapKeys)

	require.NoError(t, installCRD(ctx, ext))
	again, err := api.Get(ctx, older.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, got.ResourceVersion, again.ResourceVersion, "an up-to-date CRD is not written")

	assertDuplicateConditionsRefused(t, cluster)
}

// assertDuplicateConditionsRefused writes an RGD status with two Ready
// conditions and expects the API server to refuse it.
func assertDuplicateConditionsRefused(t *testing.T, cluster *devcluster.Cluster) {
	t.Helper()
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(cluster.RESTConfig())
	require.NoError(t, err)
	rgds := dyn.Resource(v1alpha1.ResourceGraphDefinitionResource)
	rgd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "ResourceGraphDefinition",
		"metadata": map[string]any{"name": "duplicates"},
		"spec":     map[string]any{"schema": map[string]any{"apiVersion": "v1alpha1", "kind": "Duplicates"}},
	}}
	created, err := rgds.Create(ctx, rgd, metav1.CreateOptions{})
	require.NoError(t, err)
	ready := map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}
	created.Object["status"] = map[string]any{"conditions": []any{ready, ready}}
	_, err = rgds.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsInvalid(err), "%v", err)
}
