package engine

import (
	"context"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apiextensionsv1client "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/typed/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientretry "k8s.io/client-go/util/retry"

	"github.com/rgd-dev/rgd/crds"
	"github.com/rgd-dev/rgd/internal/registrar"
)

// installTimeout bounds the wait for the ResourceGraphDefinition CRD to be
// Established once it is written.
const installTimeout = time.Minute

// installCRD makes the cluster serve rgd's ResourceGraphDefinition CRD,
// creating it, or updating it when its versions differ from rgd's (an older
// rgd's, or kro's), and waits until it is Established. An update that races
// another write of the CRD (its status, right after it was created) reads it
// again and decides again.
func installCRD(ctx context.Context, client apiextensionsclientset.Interface) error {
	want, err := crds.ResourceGraphDefinitions()
	if err != nil {
		return err
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	var crd *extv1.CustomResourceDefinition
	err = clientretry.RetryOnConflict(clientretry.DefaultRetry, func() error {
		var err error
		crd, err = writeCRD(ctx, api, want)
		return err
	})
	if err != nil {
		return err
	}
	return registrar.WaitEstablished(ctx, api, crd, installTimeout)
}

// writeCRD creates want, or updates the CRD of its name when the versions
// differ, and returns the CRD as the API server last returned it.
func writeCRD(ctx context.Context, api apiextensionsv1client.CustomResourceDefinitionInterface, want *extv1.CustomResourceDefinition) (*extv1.CustomResourceDefinition, error) {
	have, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		crd, err := api.Create(ctx, want, metav1.CreateOptions{FieldManager: "rgd"})
		if apierrors.IsAlreadyExists(err) {
			return api.Get(ctx, want.Name, metav1.GetOptions{})
		}
		return crd, err
	case err != nil:
		return nil, err
	case !equality.Semantic.DeepEqual(have.Spec.Versions, want.Spec.Versions):
		have.Spec = *want.Spec.DeepCopy()
		return api.Update(ctx, have, metav1.UpdateOptions{FieldManager: "rgd"})
	default:
		return have, nil
	}
}
