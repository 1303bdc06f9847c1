package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// Children written as the ServiceAccount an RGD names (rgd.dev/service-account),
// through impersonation, with the API server's real RBAC and admission deciding:
// the engine itself runs with admin credentials, so every refusal below is the
// ServiceAccount's.

var (
	scPolicies = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	scBindings = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
)

const impersonationRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
  annotations:
    rgd.dev/service-account: SERVICEACCOUNT
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      deploy: boolean | default=false
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
        owner: tenant
  - id: app
    includeWhen:
    - ${schema.spec.deploy}
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.metadata.name}-app
      spec:
        replicas: 1
        selector:
          matchLabels: {app: identity}
        template:
          metadata:
            labels: {app: identity}
          spec:
            containers:
            - name: app
              image: registry.example/app:1
`

// tenantRole is the tenant ServiceAccount's Role: ConfigMaps, and the
// resources listed in EXTRA.
const tenantRole = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: tenant-sa
  namespace: NAMESPACE
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
EXTRA`

const tenantDeployments = `- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, update, patch, delete]
`

// setupTenant creates the ServiceAccount tenant-sa in the scenario's
// namespace, allowed ConfigMaps there and nothing else.
func (s *sc) setupTenant() {
	s.t.Helper()
	s.apply(`
apiVersion: v1
kind: ServiceAccount
metadata:
  name: tenant-sa
  namespace: NAMESPACE
`)
	s.apply(strings.Replace(tenantRole, "EXTRA", "", 1))
	s.apply(`
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: tenant-sa
  namespace: NAMESPACE
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant-sa}
subjects:
- {kind: ServiceAccount, name: tenant-sa, namespace: NAMESPACE}
`)
}

const tenantOnlyPolicy = `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: POLICY
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      operations: [CREATE, UPDATE, DELETE]
      resources: [configmaps]
  matchConditions:
  - name: rgd-children
    expression: "has((request.operation == 'DELETE' ? oldObject : object).metadata.labels) && (request.operation == 'DELETE' ? oldObject : object).metadata.labels.exists(k, k == 'kro.run/owned')"
  validations:
  - expression: "request.userInfo.username == 'system:serviceaccount:NAMESPACE:tenant-sa'"
    messageExpression: "'only tenant-sa writes rgd children here, not ' + request.userInfo.username"
`

const tenantOnlyBinding = `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: POLICY
spec:
  policyName: POLICY
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: NAMESPACE
`

// requireTenantWrites makes the API server refuse every create, update and
// delete of an rgd child ConfigMap in the scenario's namespace by anyone but
// tenant-sa, and waits until it does (admission policies take effect a
// moment after they are created): a child that exists was written by
// tenant-sa, whatever its managedFields say.
func (s *sc) requireTenantWrites() {
	s.t.Helper()
	policy := "tenant-only-" + s.ns
	for gvr, doc := range map[schema.GroupVersionResource]string{scPolicies: tenantOnlyPolicy, scBindings: tenantOnlyBinding} {
		obj := &unstructured.Unstructured{}
		require.NoError(s.t, yaml.Unmarshal([]byte(s.expand(strings.ReplaceAll(doc, "POLICY", policy))), &obj.Object))
		_, err := s.dyn.Resource(gvr).Apply(context.Background(), policy, obj, metav1.ApplyOptions{FieldManager: "test", Force: true})
		require.NoError(s.t, err)
	}
	s.t.Cleanup(func() { // before the namespace goes: its controller deletes ConfigMaps
		ctx := context.Background()
		_ = s.dyn.Resource(scBindings).Delete(ctx, policy, metav1.DeleteOptions{})
		_ = s.dyn.Resource(scPolicies).Delete(ctx, policy, metav1.DeleteOptions{})
	})
	probe := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "probe", "namespace": s.ns, "labels": map[string]any{metadata.LabelOwned: "true"}}}}
	eventually(s.t, scWait, "the admission policy refusing the engine's identity", func() (bool, string) {
		_, err := s.dyn.Resource(configMaps).Namespace(s.ns).Create(context.Background(), probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return false, "admin may still create an rgd ConfigMap"
		}
		return strings.Contains(err.Error(), "only tenant-sa"), err.Error()
	})
}

// waitRecordedAs waits until an instance's inventory records its child of
// node as written by sa (NAMESPACE/NAME).
func (s *sc) waitRecordedAs(instance, node, sa string) {
	s.t.Helper()
	s.waitInstance(instance, fmt.Sprintf("child %s recorded as written by %s", node, sa), func(o *unstructured.Unstructured) (bool, string) {
		for _, e := range inventoryOf(s.t, o) {
			if e.Node == node {
				return e.SA == sa, fmt.Sprintf("recorded as %q", e.SA)
			}
		}
		return false, "not in the inventory"
	})
}

// TestScenarioChildrenWrittenAsServiceAccount: an RGD names a tenant
// ServiceAccount allowed ConfigMaps only. The ConfigMap child is created by
// it (the admission policy refuses anyone else); a Deployment child is
// refused with a condition naming the ServiceAccount, verb, kind and
// namespace, and is not created with the engine's identity instead; granting
// the permission heals the instance untouched; and after the RGD names
// another ServiceAccount, deleting the instance deletes its children as the
// one that wrote them; pruning and deletion wait, with a condition that says
// why, while that one may not.
func TestScenarioChildrenWrittenAsServiceAccount(t *testing.T) {
	s := newSc(t, "Identity")
	s.setupTenant()
	s.requireTenantWrites()
	tenant := s.ns + "/tenant-sa"
	s.setup(strings.Replace(impersonationRGD, "SERVICEACCOUNT", "tenant-sa", 1))

	s.instance("web", nil, nil)
	s.waitState("web", "ACTIVE")
	s.waitCMValue("web-config", "owner", "tenant")
	s.waitRecordedAs("web", "config", tenant)

	s.instance("web", map[string]any{"deploy": true}, nil)
	want := fmt.Sprintf("serviceaccount %s may not create apps/v1 Deployment in namespace %s", tenant, s.ns)
	s.waitInstance("web", "the refusal reported", func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "ResourcesReady")
		return c.Status == "False" && strings.Contains(c.Message, want), scJSON(c)
	})
	require.False(t, s.exists(deployments, s.ns, "web-app"), "nothing is written with the engine's identity instead")

	s.apply(strings.Replace(tenantRole, "EXTRA", tenantDeployments, 1))
	s.waitState("web", "ACTIVE")
	require.True(t, s.exists(deployments, s.ns, "web-app"))
	s.waitRecordedAs("web", "app", tenant)

	// The RGD now names a ServiceAccount that does not exist: the settled
	// instance writes nothing, and its children stay recorded as tenant-sa.
	s.setup(strings.Replace(impersonationRGD, "SERVICEACCOUNT", "nobody", 1))
	s.waitRGD("the RGD serving the new identity", func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "KindReady")
		return strings.Contains(c.Message, "nobody"), scJSON(c)
	})
	s.waitRecordedAs("web", "config", tenant)

	// tenant-sa may no longer delete Deployments: pruning and deletion, both
	// as tenant-sa, say so, and the deletion goes on once the permission is
	// back.
	s.apply(strings.Replace(tenantRole, "EXTRA", strings.Replace(tenantDeployments, ", delete]", "]", 1), 1))
	s.instance("web", map[string]any{"deploy": false}, nil)
	refused := fmt.Sprintf("serviceaccount %s may not delete apps/v1 Deployment in namespace %s", tenant, s.ns)
	s.waitInstance("web", "the refused pruning reported", func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "ResourcesReady")
		return scState(o) == "ERROR" && strings.HasPrefix(c.Message, "pruning: ") && strings.Contains(c.Message, refused), scJSON(c)
	})
	s.deleteInstance("web")
	s.waitInstance("web", "the refused deletion reported", func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "ResourcesReady")
		return scState(o) == "DELETING" && strings.Contains(c.Message, refused), scJSON(o.Object["status"])
	})
	require.True(t, s.exists(deployments, s.ns, "web-app"))
	s.apply(strings.Replace(tenantRole, "EXTRA", tenantDeployments, 1))
	s.waitGone(s.gvr, s.ns, "web")
	s.waitGone(configMaps, s.ns, "web-config")
	s.waitGone(deployments, s.ns, "web-app")
}
