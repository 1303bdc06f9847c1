package engine

import (
	"context"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/rgd-dev/rgd/crds"
)

// installCRD makes the cluster serve rgd's ResourceGraphDefinition CRD,
// creating or updating it, and waits until it is Established.
func installCRD(ctx context.Context, client apiextensionsclientset.Interface) error {
	want, err := crds.ResourceGraphDefinitions()
	if err != nil {
		return err
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	have, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := api.Create(ctx, want, metav1.CreateOptions{FieldManager: "rgd"}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	case err != nil:
		return err
	case !equality.Semantic.DeepEqual(have.Spec.Versions, want.Spec.Versions):
		have.Spec = want.Spec
		if _, err := api.Update(ctx, have, metav1.UpdateOptions{FieldManager: "rgd"}); err != nil {
			return err
		}
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		crd, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == extv1.Established && c.Status == extv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}
