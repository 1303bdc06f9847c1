package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// What a tenant ServiceAccount keeps an instance author from doing: the
// API server refuses, as that ServiceAccount, every write outside what it
// was granted, and the engine reports the refusal instead of writing with
// its own power.

// strayRGD writes one ConfigMap in the instance's namespace and one in the
// namespace the instance author names.
const strayRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
  annotations:
    rgd.dev/service-account: tenant-sa
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      target: string | required=true
  resources:
  - id: home
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-home
      data: {where: home}
  - id: stray
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-stray
        namespace: ${schema.spec.target}
      data: {where: elsewhere}
`

// waitRefused waits until the instance's ResourcesReady condition carries
// a refusal containing want, and the instance is not ACTIVE.
func (s *sc) waitRefused(instance, want string) {
	s.t.Helper()
	s.waitInstance(instance, "the refusal reported: "+want, func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "ResourcesReady")
		return scState(o) != "ACTIVE" && c.Status == "False" && strings.Contains(c.Message, want), scJSON(o.Object["status"])
	})
}

// TestScenarioTemplateInAnotherNamespaceIsRefused: a template that points
// at a namespace the tenant ServiceAccount has no rights in is refused by
// the API server and reported with the ServiceAccount, verb, kind and
// namespace; nothing is created there, the child it may write is, and
// deleting the instance is not held up by the child that never existed.
func TestScenarioTemplateInAnotherNamespaceIsRefused(t *testing.T) {
	s := newSc(t, "Stray")
	s.setupTenant()
	other := devclustertest.Namespace(t) // the tenant has no rights there
	s.setup(strayRGD)

	s.instance("web", map[string]any{"target": other}, nil)
	s.waitRefused("web", fmt.Sprintf("serviceaccount %s/tenant-sa may not create v1 ConfigMap in namespace %s", s.ns, other))
	s.waitCMValue("web-home", "where", "home")
	require.False(t, s.exists(configMaps, other, "web-stray"), "nothing is written in the other namespace with the engine's identity")

	s.deleteInstance("web")
	s.waitGone(s.gvr, s.ns, "web")
	s.waitGone(configMaps, s.ns, "web-home")
}

// cartsStackAs returns the bundled CartsStack RGD under the scenario's RGD
// name and kind, naming sa in rgd.dev/service-account.
func (s *sc) cartsStackAs(sa string) string {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(cartsExample, "rgd.yaml"))
	require.NoError(s.t, err)
	rgd := map[string]any{}
	require.NoError(s.t, yaml.Unmarshal(data, &rgd))
	u := &unstructured.Unstructured{Object: rgd}
	u.SetName(s.rgd)
	u.SetAnnotations(map[string]string{metadata.AnnotationServiceAccount: sa})
	require.NoError(s.t, unstructured.SetNestedField(u.Object, s.kind, "spec", "schema", "kind"))
	out, err := yaml.Marshal(u.Object)
	require.NoError(s.t, err)
	return string(out)
}

// TestScenarioCartsStackTenantCannotCreateANamespace: with the CartsStack
// RGD naming the instance namespace's tenant ServiceAccount, an instance
// author who asks for a new namespace through spec.namespace gets a
// refusal, not a Namespace created with the engine's cluster-wide power.
func TestScenarioCartsStackTenantCannotCreateANamespace(t *testing.T) {
	s := newSc(t, "CartsTenant")
	installTableCRD(t, s.dyn)
	s.setupTenant()
	s.setup(s.cartsStackAs("tenant-sa"))

	stolen := s.ns + "-stolen"
	s.instance("carts", map[string]any{"tableName": "carts-items", "namespace": stolen}, nil)
	s.waitRefused("carts", fmt.Sprintf("serviceaccount %s/tenant-sa may not create v1 Namespace cluster-wide", s.ns))
	require.False(t, s.exists(scNamespaces, "", stolen), "the Namespace is not created with the engine's identity")

	s.deleteInstance("carts")
	s.waitGone(s.gvr, s.ns, "carts")
	require.False(t, s.exists(scNamespaces, "", stolen))
}
