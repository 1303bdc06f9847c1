package devexample

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/manifest"
)

func docNames(docs []manifest.Document) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.Object.GetKind()+"/"+d.Object.GetName())
	}
	return out
}

// writeSortingExample writes an example of every kind of document, in files
// named so that the reading order is not the applying order.
func writeSortingExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write("a-instance.yaml", `
apiVersion: shop.example.com/v1
kind: Shop
metadata: {name: my-shop}
`)
	write("b-rgd.yaml", `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: shop}
spec:
  schema: {apiVersion: v1, group: shop.example.com, kind: Shop}
---
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: web}
spec:
  schema: {apiVersion: v1alpha1, kind: Web}
`)
	write("c-crd.yaml", `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
`)
	write("d-prereq.yml", `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: kro.run/v1alpha1
kind: Web
metadata: {name: site}
`)
	write("README.md", "not yaml: ignored")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))
	return dir
}

func TestLoadSortsDocuments(t *testing.T) {
	set, err := Load(writeSortingExample(t))
	require.NoError(t, err)
	assert.Equal(t, []string{"CustomResourceDefinition/things.example.com"}, docNames(set.CRDs))
	assert.Equal(t, []string{"ConfigMap/settings"}, docNames(set.Prerequisites))
	assert.Equal(t, []string{"ResourceGraphDefinition/shop", "ResourceGraphDefinition/web"}, docNames(set.RGDs))
	assert.Equal(t, []string{"Shop/my-shop", "Web/site"}, docNames(set.Instances))
	assert.Equal(t, []string{"shops.shop.example.com", "webs.kro.run"}, set.Kinds)
}

func TestLoadReportsEveryBadDocument(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(`
apiVersion: v1
kind: ConfigMap
metadata: {}
---
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: nokind}
spec: {schema: {apiVersion: v1}}
`), 0o600))
	_, err := Load(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expected a Kubernetes object with apiVersion, kind and metadata.name")
	assert.Contains(t, err.Error(), "spec.schema.kind: Required value")
}

func TestLoadCartsStack(t *testing.T) {
	dir, err := Find("examples/cartsstack")
	require.NoError(t, err, "found from internal/devexample by walking up")
	set, err := Load(dir)
	require.NoError(t, err)
	require.Len(t, set.CRDs, 1)
	assert.Equal(t, "tables.dynamodb.services.k8s.aws", set.CRDs[0].Object.GetName())
	require.Len(t, set.RGDs, 1)
	require.Len(t, set.Instances, 1)
	assert.Equal(t, "CartsStack", set.Instances[0].Object.GetKind())
	assert.Empty(t, set.Prerequisites)
}

func TestFindMissing(t *testing.T) {
	_, err := Find("examples/does-not-exist")
	assert.ErrorContains(t, err, "no such folder")
}

// recorder is an Applier that records what it is asked to apply.
type recorder struct {
	calls  []string
	failOn string
}

func (r *recorder) ApplyCRD(_ context.Context, crd *unstructured.Unstructured, source string) error {
	return r.record("crd "+crd.GetName(), 0)
}

func (r *recorder) Apply(_ context.Context, d manifest.Document, wait time.Duration) error {
	return r.record(d.Object.GetKind()+" "+d.Object.GetName(), wait)
}

func (r *recorder) record(what string, wait time.Duration) error {
	if wait > 0 {
		what += " " + wait.String()
	}
	r.calls = append(r.calls, what)
	if what == r.failOn {
		return fmt.Errorf("refused %s", what)
	}
	return nil
}

func TestApplyInOrder(t *testing.T) {
	set, err := Load(writeSortingExample(t))
	require.NoError(t, err)
	rec := &recorder{}
	var logged []string
	log := func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	require.NoError(t, set.ApplySetup(context.Background(), rec, log))
	require.NoError(t, set.ApplyInstances(context.Background(), rec, log))
	assert.Equal(t, []string{
		"crd things.example.com",
		"ConfigMap settings 30s",
		"ResourceGraphDefinition shop 30s",
		"ResourceGraphDefinition web 30s",
		"Shop my-shop 2m0s",
		"Web site 2m0s",
	}, rec.calls)
	assert.Len(t, logged, 6)
	assert.Contains(t, logged[4], "applying Shop default/my-shop (", "instances are named with their namespace")

	rec = &recorder{failOn: "ConfigMap settings 30s"}
	require.ErrorContains(t, set.ApplySetup(context.Background(), rec, log), "refused")
	assert.Equal(t, []string{"crd things.example.com", "ConfigMap settings 30s"}, rec.calls, "stops at the first error")
}
