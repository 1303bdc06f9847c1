package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

var (
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func TestSimpleGraphCreateUpdateDelete(t *testing.T) {
	dyn := startEngine(t)
	ns := devclustertest.Namespace(t)
	apply(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: simpleapp
spec:
  schema:
    apiVersion: v1alpha1
    kind: SimpleApp
    spec:
      replicas: integer | default=1
      message: string | default=hello
    status:
      available: ${deployment.status.?availableReplicas.orValue(0)}
      config: ${config.metadata.name}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
        message: ${schema.spec.message}
  - id: deployment
    readyWhen:
    - ${deployment.status.?availableReplicas.orValue(0) == deployment.spec.replicas}
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.metadata.name}
      spec:
        replicas: ${schema.spec.replicas}
        selector:
          matchLabels: {app: "${schema.metadata.name}"}
        template:
          metadata:
            labels: {app: "${schema.metadata.name}"}
          spec:
            containers:
            - name: web
              image: nginx
              envFrom:
              - configMapRef:
                  name: ${config.metadata.name}
`)
	waitRGDActive(t, dyn, "simpleapp")
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "simpleapps"}
	apply(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: SimpleApp
metadata:
  name: demo
  namespace: NAMESPACE
spec:
  replicas: 2
`)
	inst := waitState(t, dyn, gvr, ns, "demo", "ACTIVE", 60*time.Second)
	avail, _, _ := unstructured.NestedInt64(inst.Object, "status", "available")
	require.Equal(t, int64(2), avail)
	cm, err := get(dyn, configMaps, ns, "demo-config")
	require.NoError(t, err)
	require.Equal(t, "hello", cm.Object["data"].(map[string]any)["message"])
	require.Equal(t, "true", cm.GetLabels()["kro.run/owned"])

	// Update propagates.
	apply(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: SimpleApp
metadata:
  name: demo
  namespace: NAMESPACE
spec:
  replicas: 2
  message: bonjour
`)
	eventually(t, 30*time.Second, "config updated", func() (bool, string) {
		cm, err := get(dyn, configMaps, ns, "demo-config")
		if err != nil {
			return false, err.Error()
		}
		msg := cm.Object["data"].(map[string]any)["message"]
		return msg == "bonjour", msg.(string)
	})

	// Delete removes every child, then the instance.
	require.NoError(t, dyn.Resource(gvr).Namespace(ns).Delete(context.Background(), "demo", metav1.DeleteOptions{}))
	eventually(t, 60*time.Second, "instance gone", func() (bool, string) {
		_, err := get(dyn, gvr, ns, "demo")
		return apierrors.IsNotFound(err), "still there"
	})
	_, err = get(dyn, configMaps, ns, "demo-config")
	require.True(t, apierrors.IsNotFound(err), "the ConfigMap is deleted with its instance")
	_, err = get(dyn, deployments, ns, "demo")
	require.True(t, apierrors.IsNotFound(err), "the Deployment is deleted with its instance")
}
