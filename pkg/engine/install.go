package engine

import (
	"context"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rgd-dev/rgd/crds"
	"github.com/rgd-dev/rgd/internal/registrar"
)

// installTimeout bounds the wait for the ResourceGraphDefinition CRD to be
// Established once it is written.
const installTimeout = time.Minute

// installCRD makes the cluster serve rgd's ResourceGraphDefinition CRD,
// creating or updating it, and waits until it is Established.
func installCRD(ctx context.Context, client apiextensionsclientset.Interface) error {
	want, err := crds.ResourceGraphDefinitions()
	if err != nil {
		return err
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	have, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	var crd *extv1.CustomResourceDefinition
	switch {
	case apierrors.IsNotFound(err):
		crd, err = api.Create(ctx, want, metav1.CreateOptions{FieldManager: "rgd"})
		if apierrors.IsAlreadyExists(err) {
			crd, err = api.Get(ctx, want.Name, metav1.GetOptions{})
		}
	case err != nil:
		return err
	case !equality.Semantic.DeepEqual(have.Spec.Versions, want.Spec.Versions):
		have.Spec = want.Spec
		crd, err = api.Update(ctx, have, metav1.UpdateOptions{FieldManager: "rgd"})
	default:
		crd = have
	}
	if err != nil {
		return err
	}
	return registrar.WaitEstablished(ctx, api, crd, installTimeout)
}
