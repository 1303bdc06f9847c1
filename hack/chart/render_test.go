package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// root is the repository's root, seen from this package.
const root = "../.."

// TestGeneratedFilesUpToDate is `go run . -check`: the chart's CRD is
// crds/'s, and deploy/ is what the chart renders.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := generate(context.Background(), root)
	require.NoError(t, err)
	for _, r := range renderings {
		require.Contains(t, files, r.Out)
		assert.True(t, strings.HasPrefix(string(files[r.Out]), "# Generated from charts/rgd"), "%s starts with its header", r.Out)
	}
	require.NoError(t, check(root, files), "run 'make manifests'")
}

// TestCheckNamesStaleFiles checks that check fails, naming the file and the
// line, when a generated file differs or is missing.
func TestCheckNamesStaleFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{"a/one.yaml": []byte("x: 1\ny: 2\n"), "two.yaml": []byte("z: 3\n")}
	require.NoError(t, write(dir, files))
	require.NoError(t, check(dir, files))

	changed := map[string][]byte{"a/one.yaml": []byte("x: 1\ny: 3\n"), "two.yaml": files["two.yaml"], "three.yaml": []byte("w: 4\n")}
	err := check(dir, changed)
	require.ErrorIs(t, err, errStale)
	assert.Contains(t, err.Error(), `a/one.yaml (line 2: have "y: 2", want "y: 3")`)
	assert.Contains(t, err.Error(), "three.yaml (missing)")
	assert.NotContains(t, err.Error(), "two.yaml")
}

// document is one object of a rendering.
type document struct {
	// JSON is the object as JSON.
	JSON []byte
	// Object is the object, unstructured.
	Object *unstructured.Unstructured
}

// rendered is a rendering of the chart, decoded.
type rendered struct {
	docs []document
}

// decodeRendering splits a rendering into its objects. (This module keeps
// out of the engine's, so it does not use pkg/manifest.)
func decodeRendering(out string) ([]document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	var docs []document
	for {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		raw, err := utilyaml.ToJSON(chunk)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
			continue // a document of comments only
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		docs = append(docs, document{JSON: raw, Object: obj})
	}
}

// renderValues renders the chart with vals (a YAML document) as release
// name, and decodes the result.
func renderValues(t *testing.T, name, vals string) rendered {
	t.Helper()
	out, err := renderString(name, vals)
	require.NoError(t, err)
	docs, err := decodeRendering(out)
	require.NoError(t, err)
	return rendered{docs: docs}
}

// renderString renders the chart with vals as release name.
func renderString(name, vals string) (string, error) {
	ch, err := loadChart(root)
	if err != nil {
		return "", err
	}
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(vals), &m); err != nil {
		return "", err
	}
	return render(context.Background(), ch, m, name)
}

// find returns the object of kind and name, or nil.
func (r rendered) find(kind, name string) *document {
	for i, d := range r.docs {
		if d.Object.GetKind() == kind && d.Object.GetName() == name {
			return &r.docs[i]
		}
	}
	return nil
}

// kinds lists the rendered objects as "Kind name".
func (r rendered) kinds() []string {
	var out []string
	for _, d := range r.docs {
		out = append(out, d.Object.GetKind()+" "+d.Object.GetName())
	}
	slices.Sort(out)
	return out
}

// decode strictly decodes the object of kind and name into T: a field
// that T does not have fails the test.
func decode[T any](t *testing.T, r rendered, kind, name string) *T {
	t.Helper()
	d := r.find(kind, name)
	require.NotNil(t, d, "no %s %s in %v", kind, name, r.kinds())
	out := new(T)
	require.NoError(t, yaml.UnmarshalStrict(d.JSON, out), "%s %s", kind, name)
	return out
}

// container returns the engine's container of the Deployment name.
func container(t *testing.T, r rendered, name string) corev1.Container {
	t.Helper()
	dep := decode[appsv1.Deployment](t, r, "Deployment", name)
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	return dep.Spec.Template.Spec.Containers[0]
}

// TestDefaults checks the chart's defaults: the objects, the engine's
// arguments (only what the chart decides), its security context, and the
// children's RBAC over every kind.
func TestDefaults(t *testing.T) {
	r := renderValues(t, "rgd", "")
	assert.Equal(t, []string{
		"ClusterRole rgd-children", "ClusterRole rgd-controller",
		"ClusterRoleBinding rgd-children", "ClusterRoleBinding rgd-controller",
		"CustomResourceDefinition resourcegraphdefinitions.kro.run",
		"Deployment rgd", "Role rgd-leader-election", "RoleBinding rgd-leader-election",
		"Service rgd-metrics", "ServiceAccount rgd",
	}, r.kinds(), "no Namespace, ServiceMonitor or impersonation role by default")

	dep := decode[appsv1.Deployment](t, r, "Deployment", "rgd")
	assert.Equal(t, ptr.To[int32](1), dep.Spec.Replicas)
	pod := dep.Spec.Template.Spec
	assert.Equal(t, "rgd", pod.ServiceAccountName)
	assert.Equal(t, &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}, pod.SecurityContext)
	c := pod.Containers[0]
	ch, err := loadChart(root)
	require.NoError(t, err)
	assert.Equal(t, "ghcr.io/rgd-dev/rgd:"+ch.Metadata.AppVersion, c.Image, "the chart's appVersion by default")
	assert.Equal(t, []string{
		"controller", "--install-crds=false", "--leader-elect=true",
		"--metrics-bind-address=:8078", "--health-probe-bind-address=:8079", "--log-format=json",
	}, c.Args)
	assert.Equal(t, &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}, c.SecurityContext)
	require.Len(t, c.Env, 1)
	assert.Equal(t, "GOMEMLIMIT", c.Env[0].Name)
	assert.Equal(t, "limits.memory", c.Env[0].ValueFrom.ResourceFieldRef.Resource)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "probes", c.LivenessProbe.HTTPGet.Port.String())
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "512Mi", c.Resources.Limits.Memory().String())
	assert.Nil(t, pod.NodeSelector)
	assert.Nil(t, pod.Affinity)
	assert.Empty(t, pod.Tolerations)

	children := decode[rbacv1.ClusterRole](t, r, "ClusterRole", "rgd-children")
	assert.Equal(t, []rbacv1.PolicyRule{{
		APIGroups: []string{"*"}, Resources: []string{"*"},
		Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"},
	}}, children.Rules)
	controller := decode[rbacv1.ClusterRole](t, r, "ClusterRole", "rgd-controller")
	for _, rule := range controller.Rules {
		assert.NotContains(t, rule.Verbs, "delete", "no delete on %v", rule.Resources)
	}
	for _, binding := range []string{"rgd-children", "rgd-controller"} {
		b := decode[rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", binding)
		assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "rgd", Namespace: releaseNamespace}}, b.Subjects)
	}
	svc := decode[corev1.Service](t, r, "Service", "rgd-metrics")
	assert.Equal(t, dep.Spec.Selector.MatchLabels, svc.Spec.Selector, "the Service selects the engine's pods")
}

// TestControllerValues checks that each engine value set becomes its flag,
// exactly once, after the chart's own.
func TestControllerValues(t *testing.T) {
	r := renderValues(t, "rgd", `
controller:
  workers: 32
  rgdWorkers: 4
  qps: 50.5
  burst: 1000000
  logFormat: text
  verbosity: 2
  maxRetryDelay: 1m
  shutdownTimeout: 40s
  installCRDs: true
  allowCRDDeletion: true
  strictCostEstimate: true
  extraArgs: ["--gc-percent=50", "--pprof-bind-address=127.0.0.1:6060"]
metrics:
  port: 9090
probes:
  port: 9091
`)
	c := container(t, r, "rgd")
	assert.Equal(t, []string{
		"controller", "--install-crds=true", "--leader-elect=true",
		"--metrics-bind-address=:9090", "--health-probe-bind-address=:9091", "--log-format=text",
		"-v=2", "--workers=32", "--rgd-workers=4", "--qps=50.5", "--burst=1000000",
		"--max-retry-delay=1m", "--shutdown-timeout=40s", "--allow-crd-deletion", "--strict-cost-estimate",
		"--gc-percent=50", "--pprof-bind-address=127.0.0.1:6060",
	}, c.Args)
	assert.Equal(t, []corev1.ContainerPort{
		{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
		{Name: "probes", ContainerPort: 9091, Protocol: corev1.ProtocolTCP},
	}, c.Ports)
	svc := decode[corev1.Service](t, r, "Service", "rgd-metrics")
	assert.Equal(t, int32(9090), svc.Spec.Ports[0].Port)

	controller := decode[rbacv1.ClusterRole](t, r, "ClusterRole", "rgd-controller")
	i := slices.IndexFunc(controller.Rules, func(p rbacv1.PolicyRule) bool { return slices.Contains(p.APIGroups, "apiextensions.k8s.io") })
	require.GreaterOrEqual(t, i, 0)
	assert.Contains(t, controller.Rules[i].Verbs, "delete", "--allow-crd-deletion needs delete on CRDs")
}

// TestPodValues checks the values that shape the engine's pod.
func TestPodValues(t *testing.T) {
	r := renderValues(t, "rgd", `
image: {repository: registry.example.com/rgd, tag: v9, pullPolicy: Always}
imagePullSecrets: [{name: pull}]
replicaCount: 2
resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {memory: 1Gi}}
podAnnotations: {example.com/a: "1"}
podLabels: {team: platform}
priorityClassName: system-cluster-critical
terminationGracePeriodSeconds: 90
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: platform, effect: NoSchedule}]
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [system]}]}]
`)
	dep := decode[appsv1.Deployment](t, r, "Deployment", "rgd")
	pod := dep.Spec.Template
	assert.Equal(t, ptr.To[int32](2), dep.Spec.Replicas)
	assert.Equal(t, "registry.example.com/rgd:v9", pod.Spec.Containers[0].Image)
	assert.Equal(t, corev1.PullAlways, pod.Spec.Containers[0].ImagePullPolicy)
	assert.Equal(t, []corev1.LocalObjectReference{{Name: "pull"}}, pod.Spec.ImagePullSecrets)
	assert.Equal(t, "1Gi", pod.Spec.Containers[0].Resources.Limits.Memory().String())
	assert.Equal(t, "250m", pod.Spec.Containers[0].Resources.Requests.Cpu().String())
	assert.Equal(t, map[string]string{"example.com/a": "1"}, pod.Annotations)
	assert.Equal(t, "platform", pod.Labels["team"])
	assert.Equal(t, "rgd", pod.Labels["app.kubernetes.io/name"], "the selector's labels stay")
	assert.Equal(t, "system-cluster-critical", pod.Spec.PriorityClassName)
	assert.Equal(t, ptr.To[int64](90), pod.Spec.TerminationGracePeriodSeconds)
	assert.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, pod.Spec.NodeSelector)
	assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "platform", Effect: corev1.TaintEffectNoSchedule}},
		pod.Spec.Tolerations)
	require.NotNil(t, pod.Spec.Affinity)
	terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	assert.Equal(t, "pool", terms[0].MatchExpressions[0].Key)
}

// TestChildrenRBACRules checks that listed kinds replace the catch-all
// rule, each with the verbs the engine needs.
func TestChildrenRBACRules(t *testing.T) {
	r := renderValues(t, "rgd", `
childrenRBAC:
  rules:
    - apiGroups: [""]
      resources: [configmaps, services]
    - apiGroups: [apps, batch]
      resources: [deployments, jobs]
`)
	write := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps", "services"}, Verbs: write},
		{APIGroups: []string{"apps", "batch"}, Resources: []string{"deployments", "jobs"}, Verbs: write},
	}, decode[rbacv1.ClusterRole](t, r, "ClusterRole", "rgd-children").Rules)
}

// TestImpersonationValues checks the impersonation mode: the flags, the
// read-only children's role, and impersonate on the ServiceAccounts listed.
func TestImpersonationValues(t *testing.T) {
	r := renderValues(t, "rgd", `
impersonation:
  enabled: true
  defaultServiceAccount: platform/deployer
  serviceAccounts: [deployer, carts-deployer]
childrenRBAC:
  rules: [{apiGroups: [""], resources: [configmaps]}]
`)
	args := container(t, r, "rgd").Args
	assert.Equal(t, []string{"--require-service-account", "--default-service-account=platform/deployer"}, args[len(args)-2:])
	assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}},
		decode[rbacv1.ClusterRole](t, r, "ClusterRole", "rgd-children").Rules)
	assert.Equal(t, []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"impersonate"},
		ResourceNames: []string{"deployer", "carts-deployer"},
	}}, decode[rbacv1.ClusterRole](t, r, "ClusterRole", "rgd-impersonate").Rules)
	b := decode[rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", "rgd-impersonate")
	assert.Equal(t, "rgd-impersonate", b.RoleRef.Name)

	// Without names, any ServiceAccount; without a default, RGDs naming none
	// are refused.
	r = renderValues(t, "rgd", "impersonation: {enabled: true}")
	args = container(t, r, "rgd").Args
	assert.Equal(t, "--require-service-account", args[len(args)-1])
	assert.Empty(t, decode[rbacv1.ClusterRole](t, r, "ClusterRole", "rgd-impersonate").Rules[0].ResourceNames)
}

// TestServiceMonitor checks the optional ServiceMonitor.
func TestServiceMonitor(t *testing.T) {
	r := renderValues(t, "rgd", `
metrics:
  serviceMonitor: {enabled: true, interval: 30s, scrapeTimeout: 10s, labels: {release: prometheus}}
`)
	sm := r.find("ServiceMonitor", "rgd")
	require.NotNil(t, sm, "%v", r.kinds())
	assert.Equal(t, "monitoring.coreos.com/v1", sm.Object.GetAPIVersion())
	assert.Equal(t, releaseNamespace, sm.Object.GetNamespace())
	assert.Equal(t, "prometheus", sm.Object.GetLabels()["release"])
	var spec struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Endpoints []struct {
				Port          string `json:"port"`
				Path          string `json:"path"`
				Interval      string `json:"interval"`
				ScrapeTimeout string `json:"scrapeTimeout"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	require.NoError(t, json.Unmarshal(sm.JSON, &spec))
	svc := decode[corev1.Service](t, r, "Service", "rgd-metrics")
	assert.Equal(t, svc.Labels["app.kubernetes.io/name"], spec.Spec.Selector.MatchLabels["app.kubernetes.io/name"])
	assert.Equal(t, svc.Labels["app.kubernetes.io/instance"], spec.Spec.Selector.MatchLabels["app.kubernetes.io/instance"])
	assert.Equal(t, []string{releaseNamespace}, spec.Spec.NamespaceSelector.MatchNames)
	require.Len(t, spec.Spec.Endpoints, 1)
	assert.Equal(t, "metrics", spec.Spec.Endpoints[0].Port)
	assert.Equal(t, "30s", spec.Spec.Endpoints[0].Interval)
	assert.Equal(t, "10s", spec.Spec.Endpoints[0].ScrapeTimeout)
}

// TestNames checks the objects' names for another release name, the
// overrides, and an existing ServiceAccount.
func TestNames(t *testing.T) {
	r := renderValues(t, "platform", "")
	assert.NotNil(t, r.find("Deployment", "platform-rgd"), "%v", r.kinds())
	assert.NotNil(t, r.find("ClusterRole", "platform-rgd-children"), "%v", r.kinds())

	r = renderValues(t, "platform", "fullnameOverride: engine")
	assert.NotNil(t, r.find("Deployment", "engine"), "%v", r.kinds())
	assert.NotNil(t, r.find("Service", "engine-metrics"), "%v", r.kinds())

	r = renderValues(t, "rgd", "serviceAccount: {create: false, name: existing}")
	assert.Nil(t, r.find("ServiceAccount", "existing"))
	assert.Nil(t, r.find("ServiceAccount", "rgd"))
	assert.Equal(t, "existing", decode[appsv1.Deployment](t, r, "Deployment", "rgd").Spec.Template.Spec.ServiceAccountName)
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, d := range r.docs {
			if d.Object.GetKind() != kind {
				continue
			}
			subjects, _, _ := unstructured.NestedSlice(d.Object.Object, "subjects")
			assert.Equal(t, "existing", subjects[0].(map[string]any)["name"], "%s %s", kind, d.Object.GetName())
		}
	}

	r = renderValues(t, "rgd", "namespace: {create: true}\nleaderElection: {enabled: false}")
	ns := decode[corev1.Namespace](t, r, "Namespace", releaseNamespace)
	assert.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/enforce"])
	assert.Nil(t, r.find("Role", "rgd-leader-election"), "no Lease, no Role for it")
	assert.Contains(t, container(t, r, "rgd").Args, "--leader-elect=false")
}

// TestRefusedValues checks that values the chart cannot honour fail the
// rendering, with a message naming the value.
func TestRefusedValues(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"replicas without leader election", "replicaCount: 2\nleaderElection: {enabled: false}", "leaderElection.enabled"},
		{"no ServiceAccount to run as", "serviceAccount: {create: false}", "serviceAccount.name"},
		{"zero workers", "controller: {workers: 0}", "workers"},
		{"negative burst", "controller: {burst: -1}", "burst"},
		{"zero qps", "controller: {qps: 0}", "qps"},
		{"unknown log format", "controller: {logFormat: xml}", "logFormat"},
		{"not a duration", "controller: {maxRetryDelay: soon}", "maxRetryDelay"},
		{"unknown value", "replicas: 2", "replicas"},
		{"unknown controller value", "controller: {wrkers: 2}", "wrkers"},
		{"a rule without resources", "childrenRBAC: {rules: [{apiGroups: [apps]}]}", "resources"},
		{"a rule with verbs", `childrenRBAC: {rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]}`, "verbs"},
		{"a bad default ServiceAccount", "impersonation: {defaultServiceAccount: a/b/c}", "defaultServiceAccount"},
		{"no port", "metrics: {port: 0}", "port"},
		{"a bad pull policy", "image: {pullPolicy: Sometimes}", "pullPolicy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderString("rgd", tc.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
