package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// deploymentState reads a Deployment's replicas and first container image.
func deploymentState(o *unstructured.Unstructured) (replicas int64, image string) {
	replicas, _, _ = unstructured.NestedInt64(o.Object, "spec", "replicas")
	containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if len(containers) > 0 {
		image, _, _ = unstructured.NestedString(containers[0].(map[string]any), "image")
	}
	return replicas, image
}

// TestScenarioExternalFieldLeftToAutoscaler scales a Deployment child whose
// spec.replicas is an external field with a second field manager, as an
// autoscaler would: rgd stops applying the replicas, keeps them across later
// reconciles (even when the instance asks for other replicas), and still
// updates the rest of the Deployment.
func TestScenarioExternalFieldLeftToAutoscaler(t *testing.T) {
	s := newSc(t, "ExternalFields")
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
      replicas: integer | default=2
      image: string | default=nginx:1.0
  resources:
  - id: deployment
    externalFields:
    - spec.replicas
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
              image: ${schema.spec.image}
`)
	waitDeployment := func(what string, check func(replicas int64, image string) bool) *unstructured.Unstructured {
		t.Helper()
		return s.waitObj(deployments, s.ns, "web", what, func(o *unstructured.Unstructured) (bool, string) {
			if o == nil {
				return false, "absent"
			}
			r, img := deploymentState(o)
			return check(r, img), fmt.Sprintf("replicas %d, image %s", r, img)
		})
	}
	s.instance("web", map[string]any{"replicas": int64(2)}, nil)
	waitDeployment("rgd applies the replicas nobody else wrote", func(r int64, img string) bool { return r == 2 && img == "nginx:1.0" })

	// The autoscaler takes spec.replicas.
	scale := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": s.ns},
		"spec":     map[string]any{"replicas": int64(5)},
	}}
	_, err := s.dyn.Resource(deployments).Namespace(s.ns).Apply(context.Background(), "web", scale,
		metav1.ApplyOptions{FieldManager: "autoscaler", Force: true})
	require.NoError(t, err)

	// Another field of the instance forces a reconcile: the image follows,
	// the replicas stay the autoscaler's.
	s.instance("web", map[string]any{"replicas": int64(2), "image": "nginx:2.0"}, nil)
	waitDeployment("the image updated", func(_ int64, img string) bool { return img == "nginx:2.0" })
	// And the instance asking for other replicas changes nothing either.
	s.instance("web", map[string]any{"replicas": int64(3), "image": "nginx:3.0"}, nil)
	d := waitDeployment("the image updated again", func(_ int64, img string) bool { return img == "nginx:3.0" })
	replicas, _ := deploymentState(d)
	assert.EqualValues(t, 5, replicas, "the autoscaler's replicas are kept")

	// A HorizontalPodAutoscaler writes through the scale subresource.
	hpaScale := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling/v1", "kind": "Scale",
		"metadata": map[string]any{"name": "web", "namespace": s.ns},
		"spec":     map[string]any{"replicas": int64(4)},
	}}
	_, err = s.dyn.Resource(deployments).Namespace(s.ns).Update(context.Background(), hpaScale,
		metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"}, "scale")
	require.NoError(t, err)
	s.instance("web", map[string]any{"replicas": int64(3), "image": "nginx:4.0"}, nil)
	d = waitDeployment("the image updated once more", func(_ int64, img string) bool { return img == "nginx:4.0" })
	replicas, _ = deploymentState(d)
	assert.EqualValues(t, 4, replicas, "the replicas scaled through the scale subresource are kept")
	for _, m := range d.GetManagedFields() {
		if m.Manager == metadata.FieldManagerChildren {
			assert.NotContains(t, string(m.FieldsV1.Raw), `"f:replicas"`, "rgd owns the replicas no more")
		}
	}

	// Settled: rgd does not keep writing the Deployment (the dropped field
	// must not make it look changed for ever). Wait until the Deployment
	// controller's status writes are done (two reads apart agree), then
	// nothing changes it any more.
	var rv string
	eventually(t, scWait, "a settled Deployment", func() (bool, string) {
		a, errA := get(s.dyn, deployments, s.ns, "web")
		time.Sleep(500 * time.Millisecond) // spacing two reads, inside a deadline poll
		b, errB := get(s.dyn, deployments, s.ns, "web")
		if errA != nil || errB != nil {
			return false, fmt.Sprint(errA, errB)
		}
		rv = b.GetResourceVersion()
		return a.GetResourceVersion() == rv, a.GetResourceVersion() + " vs " + rv
	})
	consistently(t, 3*time.Second, "the Deployment is left alone", func() (bool, string) {
		cur, err := get(s.dyn, deployments, s.ns, "web")
		if err != nil {
			return false, err.Error()
		}
		r, _ := deploymentState(cur)
		return r == 4 && cur.GetResourceVersion() == rv, fmt.Sprintf("replicas %d, resourceVersion %s (settled at %s)", r, cur.GetResourceVersion(), rv)
	})
	assert.Equal(t, "ACTIVE", scState(s.getInstance("web")))
}
