package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// A generated CRD deleted by hand is created again by its RGD, which stays
// (or becomes again) Active.
func TestScenarioGeneratedCRDRecreated(t *testing.T) {
	dyn := startEngine(t)
	apply(t, dyn, "", `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: sc-crd-recreated
spec:
  schema:
    apiVersion: v1alpha1
    kind: ScCrdRecreatedApp
    spec:
      name: string | default=x
`)
	waitRGDActive(t, dyn, "sc-crd-recreated")
	ext, err := apiextensionsclientset.NewForConfig(devclustertest.Config())
	if err != nil {
		t.Fatal(err)
	}
	crds := ext.ApiextensionsV1().CustomResourceDefinitions()
	old, err := crds.Get(context.Background(), "sccrdrecreatedapps.kro.run", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := crds.Delete(context.Background(), old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the CRD created again, with a new UID", func() (bool, string) {
		cur, err := crds.Get(context.Background(), old.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cur.UID != old.UID && cur.DeletionTimestamp == nil, "still the old one"
	})
	eventually(t, 30*time.Second, "the RGD Active", func() (bool, string) {
		obj, err := get(dyn, v1alpha1.ResourceGraphDefinitionResource, "", "sc-crd-recreated")
		if err != nil {
			return false, err.Error()
		}
		state, _, _ := unstructured.NestedString(obj.Object, "status", "state")
		return state == "Active", state
	})
}

// The kind an RGD serves lists its instances as kubectl shows them: the
// default columns State, Ready and Age, each with kro's description, filled
// from the instance's status.
func TestScenarioDefaultPrinterColumns(t *testing.T) {
	s := newSc(t, "Columns")
	s.setup(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      name: string | default=x
`)
	s.instance("one", nil, nil)
	s.waitState("one", "ACTIVE")

	table := s.table()
	descriptions := map[string]string{}
	for _, c := range table.ColumnDefinitions {
		descriptions[c.Name] = c.Description
	}
	assert.Equal(t, "The state of a ResourceGraphDefinition instance", descriptions["State"])
	assert.Equal(t, "Whether a ResourceGraphDefinition instance is ready", descriptions["Ready"])
	assert.Equal(t, "Age of the resource", descriptions["Age"])
	require.Len(t, table.Rows, 1)
	cells := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		cells[c.Name] = table.Rows[0].Cells[i]
	}
	assert.Equal(t, "one", cells["Name"])
	assert.Equal(t, "ACTIVE", cells["State"])
	assert.Equal(t, "True", cells["Ready"])
}

// table lists the scenario's instances the way kubectl get does: as a
// Table the API server renders from the CRD's printer columns.
func (s *sc) table() *metav1.Table {
	s.t.Helper()
	cfg := rest.CopyConfig(devclustertest.Config())
	cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	client, err := rest.UnversionedRESTClientFor(cfg)
	require.NoError(s.t, err)
	raw, err := client.Get().
		AbsPath("/apis", s.gvr.Group, s.gvr.Version, "namespaces", s.ns, s.gvr.Resource).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
		DoRaw(context.Background())
	require.NoError(s.t, err)
	table := &metav1.Table{}
	require.NoError(s.t, json.Unmarshal(raw, table))
	return table
}
