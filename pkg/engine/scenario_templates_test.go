package engine_test

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestScenarioStringTemplates(t *testing.T) {
	s := newSc(t, "Strings")
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
      env: string | default=dev
      port: integer | default=80
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-${schema.spec.env}-cfg
        labels:
          env: env-${schema.spec.env}
      data:
        url: "http://${schema.metadata.name}.${schema.metadata.namespace}:${string(schema.spec.port)}/"
        literal: ${"${NOT_CEL}"}
        plain: no expressions here
`)
	s.instance("web", map[string]any{"env": "prod", "port": int64(8443)}, nil)
	s.waitState("web", "ACTIVE")
	cm := s.waitCMValue("web-prod-cfg", "plain", "no expressions here")
	d := scData(cm)
	assert.Equal(t, "http://web."+s.ns+":8443/", d["url"])
	assert.Equal(t, "${NOT_CEL}", d["literal"], "the escape idiom gives a literal ${...}")
	assert.Equal(t, "env-prod", cm.GetLabels()["env"])
}

func TestScenarioCELLibraryFunctions(t *testing.T) {
	s := newSc(t, "CELLib")
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
      name: string | default=Alice
      tags: '[]string | default=["b","a"]'
      labels: 'map[string]string | default={"x":"1"}'
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-cel
      data:
        upper: ${schema.spec.name.upperAscii()}
        joined: ${schema.spec.tags.sort().join("+")}
        json: '${json.marshal(schema.spec.labels.merge({"y": "2"}))}' 
        b64: ${base64.encode(bytes(schema.spec.name))}
        random: ${random.seededString(10, schema.metadata.name)}
        sha: '${hash.sha256(schema.spec.name).size() == 32 ? "32" : "other"}' 
        quantity: ${string(quantity("1Gi").asInteger())}
        optional: '${schema.spec.labels[?"missing"].orValue("fallback")}' 
        count: ${string(schema.spec.tags.size())}
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-second
      data:
        random: ${random.seededString(10, schema.metadata.name)}
`)
	s.instance("lib", nil, nil)
	s.waitState("lib", "ACTIVE")
	cm := s.waitCMValue("lib-cel", "upper", "ALICE")
	d := scData(cm)
	assert.Equal(t, "a+b", d["joined"])
	var m map[string]string
	require.NoError(t, json.Unmarshal([]byte(d["json"].(string)), &m), d["json"])
	assert.Equal(t, map[string]string{"x": "1", "y": "2"}, m)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("Alice")), d["b64"])
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-z]{10}$`), d["random"])
	assert.Equal(t, "32", d["sha"])
	assert.Equal(t, "1073741824", d["quantity"])
	assert.Equal(t, "fallback", d["optional"])
	assert.Equal(t, "2", d["count"])
	second := s.waitCM("lib-second", func(sd map[string]any) (bool, string) { return sd["random"] != nil, scJSON(sd) })
	assert.Equal(t, d["random"], scData(second)["random"], "seeded randomness is deterministic")
}

func TestScenarioOmitRemovesField(t *testing.T) {
	s := newSc(t, "Omit")
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
      note: string | default=""
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-omit
      data:
        always: "yes"
        note: '${schema.spec.note != "" ? schema.spec.note : omit()}'
`)
	s.instance("o", nil, nil)
	s.waitState("o", "ACTIVE")
	cm := s.waitCMValue("o-omit", "always", "yes")
	_, has := scData(cm)["note"]
	assert.False(t, has, "omit() removes the field")
	s.instance("o", map[string]any{"note": "hello"}, nil)
	s.waitCMValue("o-omit", "note", "hello")
	// Omitted again: rgd no longer applies the field, so it is removed.
	s.instance("o", map[string]any{"note": ""}, nil)
	s.waitCM("o-omit", func(d map[string]any) (bool, string) {
		_, has := d["note"]
		return !has, scJSON(d)
	})
}

func TestScenarioChildrenInGraphNamespace(t *testing.T) {
	s := newSc(t, "OwnNamespace")
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
      target: string | required=true
  resources:
  - id: space
    template:
      apiVersion: v1
      kind: Namespace
      metadata:
        name: ${schema.spec.target}
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: inside
        namespace: ${space.metadata.name}
      data:
        k: v
`)
	target := s.ns + "-own"
	s.instance("n", map[string]any{"target": target}, nil)
	s.waitState("n", "ACTIVE")
	s.waitObj(configMaps, target, "inside", "ConfigMap in the graph's namespace", func(o *unstructured.Unstructured) (bool, string) {
		return o != nil, "absent"
	})
	ns, err := get(s.dyn, scNamespaces, "", target)
	require.NoError(t, err)
	assert.Equal(t, "true", ns.GetLabels()["kro.run/owned"])
	s.deleteInstance("n")
	s.waitGone(s.gvr, s.ns, "n")
	// The namespace is deleted last, after what lives in it.
	s.waitObj(scNamespaces, "", target, "the namespace deleted", func(o *unstructured.Unstructured) (bool, string) {
		return o == nil || o.GetDeletionTimestamp() != nil, "not being deleted"
	})
}

func TestScenarioSecretWithStringDataSettles(t *testing.T) {
	s := newSc(t, "Secret")
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
      user: string | default=admin
  resources:
  - id: creds
    template:
      apiVersion: v1
      kind: Secret
      metadata:
        name: ${schema.metadata.name}-creds
      type: Opaque
      stringData:
        user: ${schema.spec.user}
        password: ${random.seededString(16, schema.metadata.uid)}
`)
	s.instance("sec", nil, nil)
	s.waitState("sec", "ACTIVE")
	sec := s.waitObj(scSecrets, s.ns, "sec-creds", "the Secret", func(o *unstructured.Unstructured) (bool, string) {
		return o != nil, "absent"
	})
	data, _, _ := unstructured.NestedStringMap(sec.Object, "data")
	user, err := base64.StdEncoding.DecodeString(data["user"])
	require.NoError(t, err)
	assert.Equal(t, "admin", string(user))
	pw, _ := base64.StdEncoding.DecodeString(data["password"])
	assert.Len(t, pw, 16)
	// The same password on every reconcile: the Secret is not rewritten.
	base := sec.GetResourceVersion()
	s.instance("sec", map[string]any{"user": "admin"}, map[string]string{"poke": "1"})
	consistently(t, 2*time.Second, "the Secret settles", func() (bool, string) {
		o, err := get(s.dyn, scSecrets, s.ns, "sec-creds")
		if err != nil {
			return false, err.Error()
		}
		return o.GetResourceVersion() == base, "rewritten: " + scJSON(o.GetManagedFields())
	})
}

func TestScenarioExternalRefReadyWhen(t *testing.T) {
	s := newSc(t, "ExtReady")
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
      dep: string | required=true
  resources:
  - id: upstream
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.dep}
    readyWhen:
    - ${upstream.data.?phase.orValue("") == "Ready"}
  - id: app
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-app
      data:
        endpoint: ${upstream.data.endpoint}
`)
	s.apply(`
apiVersion: v1
kind: ConfigMap
metadata:
  name: upstream
  namespace: NAMESPACE
data:
  phase: Pending
  endpoint: db:5432
`)
	s.instance("e", map[string]any{"dep": "upstream"}, nil)
	s.waitInstance("e", "waiting on upstream readiness", func(o *unstructured.Unstructured) (bool, string) {
		return scState(o) == "IN_PROGRESS" && strings.Contains(scCondition(o, "ResourcesReady").Message, "upstream"), scJSON(o.Object["status"])
	})
	assert.False(t, s.exists(configMaps, s.ns, "e-app"))
	s.mergePatch(configMaps, s.ns, "upstream", `{"data":{"phase":"Ready"}}`)
	s.waitCMValue("e-app", "endpoint", "db:5432")
	s.waitState("e", "ACTIVE")
}
