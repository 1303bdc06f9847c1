package applier

import (
	"cmp"
	"context"
	"fmt"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/typed/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/rgd-dev/rgd/internal/registrar"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

// CRDWait bounds how long ApplyCRD waits for a CRD to be Established.
const CRDWait = 30 * time.Second

// pollInterval is how often Apply asks discovery again for a kind not yet served.
const pollInterval = 200 * time.Millisecond

// Applier applies documents with server-side apply under one field manager.
// It is safe for concurrent use.
type Applier struct {
	dyn          dynamic.Interface
	crds         apiextensionsclient.CustomResourceDefinitionInterface
	mapper       *restmapper.DeferredDiscoveryRESTMapper
	fieldManager string
}

// New returns an Applier for the cluster of cfg, writing through dyn under
// fieldManager (forcing conflicts: the documents are the truth).
func New(cfg *rest.Config, dyn dynamic.Interface, fieldManager string) (*Applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ext, err := apiextensionsclientset.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{
		dyn:          dyn,
		crds:         ext.ApiextensionsV1().CustomResourceDefinitions(),
		mapper:       restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		fieldManager: fieldManager,
	}, nil
}

// Mapper is the Applier's discovery REST mapper, for readers of the same
// cluster; Reset forgets what discovery said.
func (a *Applier) Mapper() meta.ResettableRESTMapper { return a.mapper }

// ApplyCRD applies a CustomResourceDefinition and waits, at most CRDWait,
// until it is Established with its names accepted; source names it in
// errors. Discovery is then asked again, so that its kind maps.
func (a *Applier) ApplyCRD(ctx context.Context, obj *unstructured.Unstructured, source string) error {
	crds := a.dyn.Resource(extv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	applied, err := crds.Apply(ctx, obj.GetName(), obj, a.options())
	if err != nil {
		return fmt.Errorf("%s: applying CRD %s: %w", source, obj.GetName(), err)
	}
	crd := &extv1.CustomResourceDefinition{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(applied.Object, crd); err != nil {
		return fmt.Errorf("%s: reading CRD %s: %w", source, obj.GetName(), err)
	}
	if err := registrar.WaitEstablished(ctx, a.crds, crd, CRDWait); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	a.mapper.Reset()
	return nil
}

// Apply server-side applies one document, waiting up to wait for its kind
// to be served (for kinds whose CRD is still being created). A namespaced
// object without a namespace goes to the default namespace.
func (a *Applier) Apply(ctx context.Context, d manifest.Document, wait time.Duration) error {
	gvk := d.Object.GroupVersionKind()
	var mapping *meta.RESTMapping
	err := poll(ctx, wait, func() error {
		m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			a.mapper.Reset()
			return err
		}
		mapping = m
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %s is not served by the cluster: %w", d.Source, gvk, err)
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dyn.Resource(mapping.Resource).Namespace(cmp.Or(d.Object.GetNamespace(), metav1.NamespaceDefault))
	}
	obj := d.Object.DeepCopy()
	if _, err := ri.Apply(ctx, obj.GetName(), obj, a.options()); err != nil {
		return fmt.Errorf("%s: applying %s %s: %w", d.Source, gvk.Kind, obj.GetName(), err)
	}
	return nil
}

func (a *Applier) options() metav1.ApplyOptions {
	return metav1.ApplyOptions{FieldManager: a.fieldManager, Force: true}
}

// poll calls check every pollInterval until it succeeds or timeout (or ctx)
// ends.
func poll(ctx context.Context, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		case <-ticker.C:
		}
	}
}
