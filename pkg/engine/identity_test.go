package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/engine"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// identityRGD is an RGD of kind KIND with one ConfigMap child, annotated
// with ANNOTATIONS.
const identityRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: NAME
  annotations: ANNOTATIONS
spec:
  schema:
    apiVersion: v1alpha1
    kind: KIND
    spec:
      value: string
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        value: ${schema.spec.value}
`

func identityDoc(name, kind, annotations string) string {
	return strings.NewReplacer("NAME", name, "KIND", kind, "ANNOTATIONS", annotations).Replace(identityRGD)
}

// TestRequireServiceAccount runs an engine with RequireServiceAccount: an
// RGD that names no ServiceAccount is refused with GraphAccepted=False
// (reason ServiceAccountRequired) and its kind is not served; one that names
// one is Active and its status says which; annotating the refused one
// serves it.
func TestRequireServiceAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a local control plane, which -short does not")
	}
	s := startSideWith(t, engine.Options{Workers: 2, RequireServiceAccount: true})

	apply(t, s.dyn, "", identityDoc("unnamed", "Unnamed", "{}"))
	var refused *unstructured.Unstructured
	eventually(t, 30*time.Second, "RGD unnamed refused", func() (bool, string) {
		var err error
		if refused, err = get(s.dyn, v1alpha1.ResourceGraphDefinitionResource, "", "unnamed"); err != nil {
			return false, err.Error()
		}
		c := scCondition(refused, string(v1alpha1.ConditionGraphAccepted))
		return c.Status == "False" && c.Reason == v1alpha1.ReasonServiceAccountRequired, fmt.Sprintf("GraphAccepted %+v", c)
	})
	assert.Contains(t, scCondition(refused, string(v1alpha1.ConditionGraphAccepted)).Message,
		"requires a ServiceAccount to write children as (--require-service-account) and this ResourceGraphDefinition names none: annotate the ResourceGraphDefinition "+
			metadata.AnnotationServiceAccount)
	assert.Equal(t, string(v1alpha1.StateInactive), scState(refused))
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	_, err := get(s.dyn, crds, "", "unnameds.kro.run")
	assert.True(t, apierrors.IsNotFound(err), "the kind of a refused RGD is not served: %v", err)

	apply(t, s.dyn, "", identityDoc("named", "Named", "{"+metadata.AnnotationServiceAccount+": tenant-writer}"))
	waitRGDActive(t, s.dyn, "named")
	named, err := get(s.dyn, v1alpha1.ResourceGraphDefinitionResource, "", "named")
	require.NoError(t, err)
	assert.Equal(t, "kind Named has been accepted and ready; children are written as serviceaccount tenant-writer in each instance's namespace",
		scCondition(named, string(v1alpha1.ConditionKindReady)).Message)

	// Only the annotation changes, not the generation: the RGD is
	// reconciled and served all the same.
	apply(t, s.dyn, "", identityDoc("unnamed", "Unnamed", "{"+metadata.AnnotationServiceAccount+": platform/writer}"))
	waitRGDActive(t, s.dyn, "unnamed")
	served, err := get(s.dyn, v1alpha1.ResourceGraphDefinitionResource, "", "unnamed")
	require.NoError(t, err)
	assert.Contains(t, scCondition(served, string(v1alpha1.ConditionKindReady)).Message, "children are written as serviceaccount platform/writer")
}

// TestNewRefusesAMalformedDefaultServiceAccount checks that a bad
// DefaultServiceAccount fails New, naming the option, before anything runs.
func TestNewRefusesAMalformedDefaultServiceAccount(t *testing.T) {
	_, err := engine.New(&rest.Config{Host: "https://127.0.0.1:1"}, engine.Options{DefaultServiceAccount: "a/b/c"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `engine.Options.DefaultServiceAccount: "a/b/c" has more than one '/'`)
	_, err = engine.New(&rest.Config{Host: "https://127.0.0.1:1"}, engine.Options{DefaultServiceAccount: "platform/writer", RequireServiceAccount: true})
	assert.NoError(t, err)
}
