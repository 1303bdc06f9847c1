package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const podImage = "registry.k8s.io/pause:3.10"

// floorObjects are the four children of instance i, created directly.
func floorObjects(ns string, i int) (*corev1.ConfigMap, *corev1.ServiceAccount, *appsv1.Deployment, *corev1.Service) {
	name := fmt.Sprintf("floor-%d", i)
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: n, Namespace: ns, Labels: map[string]string{roleLabel: "floor"}}
	}
	one := int32(1)
	cm := &corev1.ConfigMap{ObjectMeta: meta(name + "-config"), Data: map[string]string{"value": "v1"}}
	sa := &corev1.ServiceAccount{ObjectMeta: meta(name + "-sa")}
	dep := &appsv1.Deployment{
		ObjectMeta: meta(name),
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, roleLabel: "floor"}},
				Spec: corev1.PodSpec{
					ServiceAccountName: sa.Name,
					Containers: []corev1.Container{{
						Name: "app", Image: podImage,
						Env:     []corev1.EnvVar{{Name: "VALUE", Value: "v1"}},
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: meta(name),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	return cm, sa, dep, svc
}

// createFloor creates the 4n children directly, 4n creates on
// w.concurrency workers, and returns the time until the last create
// returned.
func (w *workload) createFloor(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	err := w.parallel(ctx, 4*n, func(ctx context.Context, k int) error {
		i := k / 4
		ns := w.ns(i)
		cm, sa, dep, svc := floorObjects(ns, i)
		var err error
		switch k % 4 {
		case 0:
			_, err = w.cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		case 1:
			_, err = w.cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
		case 2:
			_, err = w.cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
		case 3:
			_, err = w.cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		}
		return err
	})
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("floor: creating objects: %w", err)
	}
	return took, nil
}

// deleteFloor removes the floor's objects and waits until they and their
// pods are gone (the child informers must run).
func (w *workload) deleteFloor(ctx context.Context, timeout time.Duration) error {
	sel := metav1.ListOptions{LabelSelector: roleLabel + "=floor"}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	for _, ns := range w.namespaces {
		for _, err := range []error{
			w.cs.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, del, sel),
			w.cs.CoreV1().ServiceAccounts(ns).DeleteCollection(ctx, del, sel),
			w.cs.AppsV1().Deployments(ns).DeleteCollection(ctx, del, sel),
			w.deleteServices(ctx, ns, sel),
		} {
			if err != nil {
				return fmt.Errorf("floor: deleting objects in %s: %w", ns, err)
			}
		}
	}
	_, err := w.waitUntil(ctx, "floor cleanup", timeout, func() (bool, string) {
		left := w.childrenLeft("floor")
		pods := count[*corev1.Pod](w.pods, "floor", nil)
		return left == 0 && pods == 0, fmt.Sprintf("%d objects and %d pods left", left, pods)
	})
	return err
}

// deleteServices deletes the selected Services, w.concurrency at a time
// (Services have no delete-collection endpoint).
func (w *workload) deleteServices(ctx context.Context, ns string, sel metav1.ListOptions) error {
	list, err := w.cs.CoreV1().Services(ns).List(ctx, sel)
	if err != nil {
		return err
	}
	return w.parallel(ctx, len(list.Items), func(ctx context.Context, i int) error {
		err := w.cs.CoreV1().Services(ns).Delete(ctx, list.Items[i].Name, metav1.DeleteOptions{})
		if isNotFound(err) {
			return nil
		}
		return err
	})
}
