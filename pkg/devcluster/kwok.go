package devcluster

import (
	"context"
	_ "embed"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kwokStages are rgd's own kwok Stage documents: a node turns Ready, a pod
// bound to the fake node turns Running and Ready with an IP, a deleted pod is
// removed at once.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// FakeNodeName is the name of the Node kwok plays when Options.Kwok is set.
const FakeNodeName = "kwok-node-0"

// kwokNodeAnnotation marks the nodes kwok manages.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// fakeNode is the one Node kwok manages: room for 110 pods.
func fakeNode() *corev1.Node {
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        FakeNodeName,
			Annotations: map[string]string{kwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"type":                   "kwok",
				"kubernetes.io/hostname": FakeNodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    resources,
			Allocatable: resources,
			Phase:       corev1.NodeRunning,
		},
	}
}

// createFakeNode creates the fake node; an existing one (a kept state) is fine.
func createFakeNode(ctx context.Context, cs kubernetes.Interface) error {
	_, err := cs.CoreV1().Nodes().Create(ctx, fakeNode(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node %s: %w", FakeNodeName, err)
	}
	return nil
}

// nodeReady reports whether the fake node has condition Ready=True.
func nodeReady(ctx context.Context, cs kubernetes.Interface) error {
	node, err := cs.CoreV1().Nodes().Get(ctx, FakeNodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("node %s is not Ready yet", FakeNodeName)
}
