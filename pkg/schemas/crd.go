package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// extEmbeddedResource marks a field that holds a whole Kubernetes object.
const extEmbeddedResource = "x-kubernetes-embedded-resource"

// crdResolver answers the served versions of a fixed set of CRDs.
type crdResolver struct {
	kinds map[schema.GroupVersionKind]*Resolved
}

// FromCRDs returns a resolver for the served versions of the given CRDs. The
// schema of each version is converted the way the API server publishes it
// (structural schema, unfolded), with apiVersion, kind and a full ObjectMeta
// added at the root and in every x-kubernetes-embedded-resource, and the
// x-kubernetes-group-version-kind extension at the root. A version
// without a schema resolves to a nil (schemaless) Schema. Every problem of
// every CRD is reported in one error; two CRDs serving one kind is an error.
func FromCRDs(crds ...*apiextensionsv1.CustomResourceDefinition) (Resolver, error) {
	return fromCRDs(crds, nil)
}

// fromCRDs is FromCRDs with, optionally, where each CRD came from ("file:
// document n") to start its errors with.
func fromCRDs(crds []*apiextensionsv1.CustomResourceDefinition, origins []string) (Resolver, error) {
	r := &crdResolver{kinds: map[schema.GroupVersionKind]*Resolved{}}
	from := map[schema.GroupVersionKind]string{}
	var errs []error
	for i, crd := range crds {
		origin := ""
		if i < len(origins) {
			origin = origins[i] + ": "
		}
		if crd == nil {
			errs = append(errs, fmt.Errorf("%sCRD %d is nil", origin, i))
			continue
		}
		resolved, err := resolveCRD(crd)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%w", origin, err))
			continue
		}
		for _, res := range resolved {
			if other, dup := from[res.GVK]; dup {
				errs = append(errs, fmt.Errorf("%sCustomResourceDefinition %q: kind %s is already served by %s", origin, crd.Name, res.GVK, other))
				continue
			}
			from[res.GVK] = fmt.Sprintf("%sCustomResourceDefinition %q", origin, crd.Name)
			r.kinds[res.GVK] = res
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Resolve implements Resolver.
func (r *crdResolver) Resolve(_ context.Context, gvk schema.GroupVersionKind) (*Resolved, error) {
	if res, ok := r.kinds[gvk]; ok {
		return res, nil
	}
	return nil, notFound(gvk)
}

// resolveCRD validates what rgd needs from a CRD and resolves its served
// versions.
func resolveCRD(crd *apiextensionsv1.CustomResourceDefinition) ([]*Resolved, error) {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	if crd.Spec.Group == "" {
		errs = append(errs, field.Required(sp.Child("group"), "the API group of the custom resource"))
	}
	if crd.Spec.Names.Kind == "" {
		errs = append(errs, field.Required(sp.Child("names", "kind"), "the kind of the custom resource"))
	}
	if crd.Spec.Names.Plural == "" {
		errs = append(errs, field.Required(sp.Child("names", "plural"), "the plural resource name"))
	}
	var namespaced bool
	switch crd.Spec.Scope {
	case apiextensionsv1.NamespaceScoped:
		namespaced = true
	case apiextensionsv1.ClusterScoped:
	default:
		errs = append(errs, field.NotSupported(sp.Child("scope"), crd.Spec.Scope, []string{string(apiextensionsv1.NamespaceScoped), string(apiextensionsv1.ClusterScoped)}))
	}
	if len(crd.Spec.Versions) == 0 {
		errs = append(errs, field.Required(sp.Child("versions"), "at least one version"))
	}
	var out []*Resolved
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		vp := sp.Child("versions").Index(i)
		if v.Name == "" {
			errs = append(errs, field.Required(vp.Child("name"), "the version name"))
			continue
		}
		if !v.Served {
			continue
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
		res := &Resolved{
			GVK:        gvk,
			Resource:   gvk.GroupVersion().WithResource(crd.Spec.Names.Plural),
			Namespaced: namespaced,
		}
		if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			s, serrs := convertCRDSchema(v.Schema.OpenAPIV3Schema, vp.Child("schema", "openAPIV3Schema"))
			errs = append(errs, serrs...)
			if s != nil {
				s.AddExtension(extGVK, []any{map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}})
			}
			res.Schema = s
		}
		out = append(out, res)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("CustomResourceDefinition %q: %w", crd.Name, errs.ToAggregate())
	}
	return out, nil
}

// convertCRDSchema turns a CRD version's schema into the kind's OpenAPI
// schema.
func convertCRDSchema(props *apiextensionsv1.JSONSchemaProps, path *field.Path) (*spec.Schema, field.ErrorList) {
	internal := &apiextensionsinternal.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(props, internal, nil); err != nil {
		return nil, field.ErrorList{field.Invalid(path, "", err.Error())}
	}
	ss, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(path, "", "not a structural schema: "+err.Error())}
	}
	if errs := structuralschema.ValidateStructural(path, ss); len(errs) > 0 {
		return nil, errs
	}
	s := ss.Unfold().ToKubeOpenAPI()
	if s.Properties == nil {
		s.Properties = map[string]spec.Schema{}
	}
	// As the API server does: the root always has TypeMeta and ObjectMeta.
	delete(s.Properties, "apiVersion")
	delete(s.Properties, "kind")
	delete(s.Properties, "metadata")
	if err := completeTypeAndObjectMeta(s); err != nil {
		return nil, field.ErrorList{field.InternalError(path, err)}
	}
	if err := completeEmbedded(s); err != nil {
		return nil, field.ErrorList{field.InternalError(path, err)}
	}
	return s, nil
}

// completeEmbedded adds apiVersion and kind (both required) and ObjectMeta
// to every schema marked x-kubernetes-embedded-resource below s (s is owned by the caller and
// changed in place).
func completeEmbedded(s *spec.Schema) error {
	if s == nil {
		return nil
	}
	for k := range s.Properties {
		p := s.Properties[k]
		if err := completeEmbedded(&p); err != nil {
			return err
		}
		s.Properties[k] = p
	}
	if s.Items != nil {
		if err := completeEmbedded(s.Items.Schema); err != nil {
			return err
		}
	}
	if s.AdditionalProperties != nil {
		if err := completeEmbedded(s.AdditionalProperties.Schema); err != nil {
			return err
		}
	}
	if embedded, ok := s.Extensions.GetBool(extEmbeddedResource); ok && embedded {
		if s.Properties == nil {
			s.Properties = map[string]spec.Schema{}
		}
		delete(s.Properties, "metadata")
		for _, name := range []string{"kind", "apiVersion"} {
			if !slices.Contains(s.Required, name) {
				s.Required = append(s.Required, name)
			}
		}
		return completeTypeAndObjectMeta(s)
	}
	return nil
}

// crdTypeMeta is the apiVersion and kind every document of a CRD file has.
var crdTypeMeta = metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"}

// LoadCRDFiles reads CustomResourceDefinitions (apiextensions.k8s.io/v1) from
// YAML or JSON files, several documents per file allowed, and returns
// FromCRDs of all of them. A document that is not a CRD, an unreadable file
// or a file without any CRD is an error naming the file; every problem of
// every file is reported at once.
func LoadCRDFiles(paths ...string) (Resolver, error) {
	var crds []*apiextensionsv1.CustomResourceDefinition
	var origins []string
	var errs []error
	for _, p := range paths {
		got, where, err := readCRDFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		crds = append(crds, got...)
		origins = append(origins, where...)
	}
	r, err := fromCRDs(crds, origins)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// readCRDFile returns the CRDs of a file and, for each, "file: document n".
func readCRDFile(path string) ([]*apiextensionsv1.CustomResourceDefinition, []string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	var origins []string
	var errs []error
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for doc := 1; ; doc++ {
		var obj json.RawMessage
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			errs = append(errs, fmt.Errorf("%s: document %d: %w", path, doc, err))
			break
		}
		if len(bytes.TrimSpace(obj)) == 0 || bytes.Equal(bytes.TrimSpace(obj), []byte("null")) {
			continue // empty document
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(obj, &tm); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: not an object: %w", path, doc, err))
			continue
		}
		if tm != crdTypeMeta {
			errs = append(errs, fmt.Errorf("%s: document %d: expected kind %s of apiVersion %s, got kind %q of apiVersion %q",
				path, doc, crdTypeMeta.Kind, crdTypeMeta.APIVersion, tm.Kind, tm.APIVersion))
			continue
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := json.Unmarshal(obj, crd); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", path, doc, err))
			continue
		}
		crds = append(crds, crd)
		origins = append(origins, fmt.Sprintf("%s: document %d", path, doc))
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if len(crds) == 0 {
		return nil, nil, fmt.Errorf("%s: no CustomResourceDefinition in the file", path)
	}
	return crds, origins, nil
}
