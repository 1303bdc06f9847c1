package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// benchRGD is the RGD under test: a ConfigMap and a ServiceAccount, a
// Deployment naming both, a Service named after the Deployment; status from
// two children. spec.value lands in the ConfigMap and in the Deployment's env.
const benchRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: benchapp
spec:
  schema:
    apiVersion: v1alpha1
    kind: BenchApp
    spec:
      value: string | default="v1"
      image: string | default="registry.k8s.io/pause:3.10"
    status:
      availableReplicas: ${deployment.status.availableReplicas}
      clusterIP: ${service.spec.clusterIP}
  resources:
    - id: config
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.metadata.name}-config
          labels:
            bench.rgd.dev/role: instance
        data:
          value: ${schema.spec.value}
    - id: account
      template:
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: ${schema.metadata.name}-sa
          labels:
            bench.rgd.dev/role: instance
    - id: deployment
      template:
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ${schema.metadata.name}
          labels:
            bench.rgd.dev/role: instance
        spec:
          replicas: 1
          selector:
            matchLabels:
              app: ${schema.metadata.name}
          template:
            metadata:
              labels:
                app: ${schema.metadata.name}
                bench.rgd.dev/role: instance
            spec:
              serviceAccountName: ${account.metadata.name}
              containers:
                - name: app
                  image: ${schema.spec.image}
                  env:
                    - name: VALUE
                      value: ${schema.spec.value}
                  envFrom:
                    - configMapRef:
                        name: ${config.metadata.name}
    - id: service
      template:
        apiVersion: v1
        kind: Service
        metadata:
          name: ${deployment.metadata.name}
          labels:
            bench.rgd.dev/role: instance
        spec:
          selector:
            app: ${deployment.metadata.name}
          ports:
            - port: 80
              targetPort: 8080
`

var (
	rgdGVR      = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	crdGVR      = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	instanceGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "benchapps"}
)

// applyRGD creates the RGD and returns how long it took, from the create's
// answer, until the RGD was Active and its kind served. The create itself is
// not timed: the engine installed the RGD CRD moments before, and the API
// server holds every create of a kind for 2 s once its CRD has just become
// Established (see waitCreatesServed), which a cluster whose RGD CRD is older
// does not do.
func (w *workload) applyRGD(ctx context.Context) (time.Duration, error) {
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(benchRGD), &obj.Object); err != nil {
		return 0, fmt.Errorf("the benchmark RGD: %w", err)
	}
	if w.impersonate {
		nameWriter(obj)
	}
	if _, err := w.dyn.Resource(rgdGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("creating RGD benchapp: %w", err)
	}
	start := time.Now()
	err := poll(ctx, 2*time.Minute, func() (bool, error) {
		got, err := w.dyn.Resource(rgdGVR).Get(ctx, "benchapp", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		state, _, _ := unstructured.NestedString(got.Object, "status", "state")
		if state != "Active" {
			return false, nil
		}
		_, err = w.dyn.Resource(instanceGVR).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	})
	if err != nil {
		return 0, fmt.Errorf("RGD benchapp did not become Active with its kind served: %w", err)
	}
	took := time.Since(start)
	return took, w.waitCreatesServed(ctx, instanceGVR.GroupResource().String())
}

// createHold is how long kube-apiserver holds a create of a custom resource
// after its CRD became Established (customresource_handler.go: so that, with
// several API servers, the others have seen the CRD before a follow-up
// request reaches them). Patches, server-side applies included, are not held.
const createHold = 2 * time.Second

// waitCreatesServed returns once creates of the CRD's kind are no longer held,
// so that the timed phases measure the engine, not the API server's hold. The
// server compares with the Established condition's lastTransitionTime, in
// whole seconds, as this does.
func (w *workload) waitCreatesServed(ctx context.Context, crdName string) error {
	crd, err := w.dyn.Resource(crdGVR).Get(ctx, crdName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading CRD %s: %w", crdName, err)
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Established" || m["status"] != "True" {
			continue
		}
		since, err := time.Parse(time.RFC3339, fmt.Sprint(m["lastTransitionTime"]))
		if err != nil {
			return fmt.Errorf("CRD %s: Established at %v: %w", crdName, m["lastTransitionTime"], err)
		}
		wait := time.Until(since.Add(createHold))
		if wait <= 0 {
			return nil
		}
		w.logf("waiting %.1f s: the API server holds creates of a kind for %s after its CRD is established", wait.Seconds(), createHold)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	return fmt.Errorf("CRD %s is not Established", crdName)
}
