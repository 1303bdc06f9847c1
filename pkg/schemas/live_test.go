package schemas

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/devcluster"
)

// The live tests run against a real control plane from pkg/devcluster,
// started on first use and stopped by TestMain. Without the control-plane
// binaries (hack/control-plane.sh) they are skipped, saying so.
var live struct {
	once    sync.Once
	cluster *devcluster.Cluster
	missing error // binaries not built
	err     error // start failed
}

func TestMain(m *testing.M) {
	code := m.Run()
	if live.cluster != nil {
		if err := live.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

func liveConfig(t *testing.T) *rest.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a local control plane, which -short does not")
	}
	live.once.Do(func() {
		if err := devcluster.CheckBinaries(devcluster.BinDir(""), devcluster.Etcd, devcluster.KubeAPIServer); err != nil {
			live.missing = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		live.cluster, live.err = devcluster.Start(ctx, devcluster.Options{})
	})
	require.NoError(t, live.missing, "the live tests need the control-plane binaries: run make control-plane")
	require.NoError(t, live.err, "starting the control plane")
	return live.cluster.RESTConfig()
}

// withoutDescriptions is a schema as JSON with every description removed,
// for comparing live schemas (with descriptions) to captured ones (without).
func withoutDescriptions(t *testing.T, s *spec.Schema) map[string]any {
	t.Helper()
	raw, err := json.Marshal(s)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(raw, &v))
	var strip func(any)
	strip = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if _, ok := x["description"].(string); ok {
				delete(x, "description") // a property named description is a map: kept
			}
			for _, c := range x {
				strip(c)
			}
		case []any:
			for _, c := range x {
				strip(c)
			}
		}
	}
	strip(v)
	return v
}

func TestBuiltinVersionIsTheControlPlanes(t *testing.T) {
	v, err := BuiltinKubernetesVersion()
	require.NoError(t, err)
	assert.Equal(t, devcluster.KubernetesVersion, v, "the control plane changed version: rerun go run ./hack/capture-openapi")
}

func TestLiveBuiltinMatchesCluster(t *testing.T) {
	cfg := liveConfig(t)
	r, err := Discovery(cfg, DiscoveryOptions{})
	require.NoError(t, err)
	ctx := context.Background()
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"},
		{Version: "v1", Kind: "Namespace"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	} {
		got, err := r.Resolve(ctx, gvk)
		require.NoError(t, err, gvk.String())
		want, err := Builtin().Resolve(ctx, gvk)
		require.NoError(t, err, gvk.String())
		assert.Equal(t, want.Resource, got.Resource, gvk.String())
		assert.Equal(t, want.Namespaced, got.Namespaced, gvk.String())
		assert.Equal(t, withoutDescriptions(t, want.Schema), withoutDescriptions(t, got.Schema), "%s: embedded schema differs from the cluster's", gvk)
	}
	_, err = r.Resolve(ctx, schema.GroupVersionKind{Group: "dynamodb.services.k8s.aws", Version: "v1alpha1", Kind: "Table"})
	require.ErrorIs(t, err, ErrNotFound)
}

func TestLiveCRD(t *testing.T) {
	cfg := liveConfig(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "table-crd.yaml"))
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(raw, crd))
	cs, err := apiextensionsclient.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), crd.Name, metav1.DeleteOptions{})
	})

	r, err := Discovery(cfg, DiscoveryOptions{CacheSize: 2})
	require.NoError(t, err)
	var got *Resolved
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err = r.Resolve(ctx, tableGVK)
		return err == nil, nil
	}), "the Table CRD never showed up in discovery: %v", err)
	assert.True(t, got.Namespaced)
	assert.Equal(t, "tables", got.Resource.Resource)

	fromFile, err := LoadCRDFiles(filepath.Join("testdata", "table-crd.yaml"))
	require.NoError(t, err)
	want, err := fromFile.Resolve(ctx, tableGVK)
	require.NoError(t, err)
	assert.Equal(t, withoutDescriptions(t, want.Schema), withoutDescriptions(t, got.Schema), "CRD file schema differs from what the API server publishes")

	// A changed CRD is seen after Invalidate.
	require.NoError(t, retryUpdate(ctx, cs, crd.Name, func(c *apiextensionsv1.CustomResourceDefinition) {
		spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.Properties["streamEnabled"] = apiextensionsv1.JSONSchemaProps{Type: "boolean"}
		c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	}))
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		r.Invalidate(tableGVK.GroupVersion())
		got, err = r.Resolve(ctx, tableGVK)
		if err != nil {
			return false, nil
		}
		_, ok := got.Schema.Properties["spec"].Properties["streamEnabled"]
		return ok, nil
	}), "the new field never showed up")
}

func retryUpdate(ctx context.Context, cs apiextensionsclient.Interface, name string, change func(*apiextensionsv1.CustomResourceDefinition)) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		c, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		change(c)
		_, err = cs.ApiextensionsV1().CustomResourceDefinitions().Update(ctx, c, metav1.UpdateOptions{})
		return err == nil, nil
	})
}
