package engine_test

import (
	"context"
	"testing"
	"time"

	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
