package main

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// writerSA is the ServiceAccount each benchmark namespace holds when
// --impersonate is set: the RGD names it, so that the engine writes every
// child as that namespace's ServiceAccount, allowed exactly the four kinds
// of the benchmark RGD.
const writerSA = "bench-writer"

// writerRules are the writer's permissions: the benchmark's child kinds.
var writerRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"configmaps", "serviceaccounts", "services"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
}

// createWriters creates writerSA, its Role and its RoleBinding in every
// namespace of the workload (existing ones are fine).
func (w *workload) createWriters(ctx context.Context) error {
	for _, ns := range w.namespaces {
		if err := ensureServiceAccount(ctx, w.cs, ns, writerSA); err != nil {
			return err
		}
		meta := metav1.ObjectMeta{Name: writerSA, Namespace: ns}
		_, err := w.cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: writerRules}, metav1.CreateOptions{})
		if err == nil || isAlreadyExists(err) {
			_, err = w.cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: meta,
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: writerSA},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: writerSA, Namespace: ns}},
			}, metav1.CreateOptions{})
		}
		if err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("the writer ServiceAccount of namespace %s: %w", ns, err)
		}
	}
	return nil
}

// nameWriter makes the benchmark RGD name writerSA as the identity its
// children are written with.
func nameWriter(rgd *unstructured.Unstructured) {
	annotations := rgd.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[metadata.AnnotationServiceAccount] = writerSA
	rgd.SetAnnotations(annotations)
}
