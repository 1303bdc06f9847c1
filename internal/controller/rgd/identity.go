package rgd

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/internal/reconcile"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// identity is the ServiceAccount the children of g's instances are written
// with: the RGD's annotation, else the engine's default (nil: the engine's
// own identity). refusal, when not empty, says why the RGD cannot be served:
// the engine requires a ServiceAccount and there is none, or the default
// names no namespace for a cluster-scoped kind.
func (c *Controller) identity(g *graph.Graph) (identity *graph.ServiceAccount, refusal string) {
	if g.ServiceAccount != nil {
		return g.ServiceAccount, ""
	}
	annotate := fmt.Sprintf("annotate the ResourceGraphDefinition %s: NAME (the ServiceAccount in each instance's namespace) or NAMESPACE/NAME",
		metadata.AnnotationServiceAccount)
	if d := c.opts.DefaultServiceAccount; d != nil {
		if d.Namespace == "" && !g.Instance.Namespaced {
			return nil, fmt.Sprintf("the engine's default service account %q names no namespace, and instances of the cluster-scoped kind %s have none: %s",
				d.String(), g.Instance.GVK.Kind, "annotate the ResourceGraphDefinition "+metadata.AnnotationServiceAccount+": NAMESPACE/NAME")
		}
		return d, ""
	}
	if c.opts.RequireServiceAccount {
		return nil, "the engine requires a ServiceAccount to write children as (--require-service-account) and this ResourceGraphDefinition names none: " + annotate
	}
	return nil, ""
}

// refuseIdentity reports an RGD that compiled but whose children have no
// identity to be written with (see identity): GraphAccepted turns False
// with reason ServiceAccountRequired, and the RGD waits for a change. As
// for an RGD that does not compile, a last good graph keeps running, and
// without one the instances of the kind can still be deleted.
func (c *Controller) refuseIdentity(ctx context.Context, obj *unstructured.Unstructured, rgd *v1alpha1.ResourceGraphDefinition, current *served, msg string) error {
	if current == nil || current.graph == nil {
		if err := c.serveDeletions(ctx, rgd); err != nil {
			c.log.Info("cannot serve the deletion of instances without a graph yet", "rgd", rgd.Name, "error", err.Error())
		}
	} else {
		msg += fmt.Sprintf(" (the last valid graph, of generation %d, keeps running)", current.generation)
	}
	if err := c.writeStatus(ctx, obj, rgd, nil, statusUpdate{accepted: cond(false, v1alpha1.ReasonServiceAccountRequired, msg)}); err != nil {
		return err
	}
	return reconcile.Terminal(fmt.Errorf("rgd %q: %s: %s", rgd.Name, metadata.AnnotationServiceAccount, msg))
}
