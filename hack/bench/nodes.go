package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// podsPerNode is what kwok lets a node hold, whatever its status says.
const podsPerNode = 110

// podNodes is how many extra kwok nodes n instances need: one pod each, a
// quarter more for rolling updates, beside devcluster's own node.
func podNodes(n int) int { return (n + n/4 + podsPerNode - 1) / podsPerNode }

// createPodNodes adds count kwok-managed nodes (devcluster's own fake node
// holds only 110 pods), so that every Deployment can become Available.
func createPodNodes(ctx context.Context, cs kubernetes.Interface, count int) error {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(podsPerNode, resource.DecimalSI),
	}
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("bench-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
			},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res, Phase: corev1.NodeRunning},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
	}
	return nil
}
