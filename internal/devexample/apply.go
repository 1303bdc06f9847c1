package devexample

import (
	"cmp"
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/manifest"
)

// How long applying a document waits for the cluster to serve its kind.
const (
	// PrerequisiteWait bounds the wait of a prerequisite or an RGD (its
	// kind may come from a CRD the example has just installed).
	PrerequisiteWait = 30 * time.Second
	// InstanceWait bounds the wait of an instance (its kind comes from the
	// engine, once the RGD is Active).
	InstanceWait = 2 * time.Minute
)

// Applier writes documents to a cluster; *applier.Applier is one.
type Applier interface {
	// ApplyCRD applies a CustomResourceDefinition and waits until it is
	// Established; source names it in errors.
	ApplyCRD(ctx context.Context, crd *unstructured.Unstructured, source string) error
	// Apply applies one document, waiting up to wait for its kind to be
	// served.
	Apply(ctx context.Context, d manifest.Document, wait time.Duration) error
}

// ApplySetup applies the set's CRDs, then its other prerequisites and then
// its RGDs, stopping at the first error. log receives a line per document.
func (s *Set) ApplySetup(ctx context.Context, a Applier, log func(format string, args ...any)) error {
	for _, d := range s.CRDs {
		log("installing CRD %s (%s)", d.Object.GetName(), d.Source)
		if err := a.ApplyCRD(ctx, d.Object, d.Source); err != nil {
			return err
		}
	}
	for _, d := range s.Prerequisites {
		log("applying %s %s (%s)", d.Object.GetKind(), d.Object.GetName(), d.Source)
		if err := a.Apply(ctx, d, PrerequisiteWait); err != nil {
			return err
		}
	}
	for _, d := range s.RGDs {
		log("applying ResourceGraphDefinition %s (%s)", d.Object.GetName(), d.Source)
		if err := a.Apply(ctx, d, PrerequisiteWait); err != nil {
			return err
		}
	}
	return nil
}

// ApplyInstances applies the set's instances, stopping at the first error.
// Call it once the engine serves their kinds. log receives a line per
// instance.
func (s *Set) ApplyInstances(ctx context.Context, a Applier, log func(format string, args ...any)) error {
	for _, d := range s.Instances {
		ns := cmp.Or(d.Object.GetNamespace(), metav1.NamespaceDefault)
		log("applying %s %s/%s (%s)", d.Object.GetKind(), ns, d.Object.GetName(), d.Source)
		if err := a.Apply(ctx, d, InstanceWait); err != nil {
			return err
		}
	}
	return nil
}

// Objects returns the objects of docs.
func Objects(docs []manifest.Document) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(docs))
	for i, d := range docs {
		out[i] = d.Object
	}
	return out
}
