package schemas

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// componentsPrefix is how OpenAPI v3 documents refer to their components.
const componentsPrefix = "#/components/schemas/"

// extGVK is the OpenAPI extension naming the kinds a component serves.
const extGVK = "x-kubernetes-group-version-kind"

// restMapping is the REST mapping of one kind in a group-version.
type restMapping struct {
	resource   string
	namespaced bool
}

// gvDocument is one parsed group-version: the components of its OpenAPI v3
// document and its REST mapping. Kinds are resolved (refs inlined, type and
// object meta completed) on first use and memoised.
type gvDocument struct {
	gv         schema.GroupVersion
	components map[string]*spec.Schema
	kinds      map[string]string // kind -> component name
	mappings   map[string]restMapping

	mu       sync.Mutex
	resolved map[string]*Resolved
}

// newGVDocument parses an OpenAPI v3 document (only components.schemas is
// read) and indexes the kinds of gv it declares. mappings is the REST
// mapping by kind.
func newGVDocument(gv schema.GroupVersion, openAPI []byte, mappings map[string]restMapping) (*gvDocument, error) {
	var doc struct {
		Components struct {
			Schemas map[string]*spec.Schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		return nil, fmt.Errorf("decoding OpenAPI v3 document of %s: %w", gv, err)
	}
	for _, c := range doc.Components.Schemas {
		forgetProse(c)
	}
	d := &gvDocument{
		gv:         gv,
		components: doc.Components.Schemas,
		kinds:      map[string]string{},
		mappings:   mappings,
		resolved:   map[string]*Resolved{},
	}
	names := make([]string, 0, len(d.components))
	for name := range d.components {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic choice if two components claim a kind
	for _, name := range names {
		s := d.components[name]
		if s == nil {
			continue
		}
		var gvks []schema.GroupVersionKind
		if err := s.Extensions.GetObject(extGVK, &gvks); err != nil {
			return nil, fmt.Errorf("OpenAPI v3 document of %s: component %s: %s: %w", gv, name, extGVK, err)
		}
		for _, gvk := range gvks {
			if gvk.GroupVersion() != gv {
				continue
			}
			if _, taken := d.kinds[gvk.Kind]; !taken {
				d.kinds[gvk.Kind] = name
			}
		}
	}
	return d, nil
}

// resolve returns the kind's schema and REST mapping.
func (d *gvDocument) resolve(kind string) (*Resolved, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.resolved[kind]; ok {
		return r, nil
	}
	gvk := d.gv.WithKind(kind)
	m, ok := d.mappings[kind]
	if !ok {
		if _, hasSchema := d.kinds[kind]; hasSchema {
			return nil, &notFoundError{gvk: gvk, detail: "no REST resource of " + d.gv.String() + " serves it"}
		}
		return nil, notFound(gvk)
	}
	r := &Resolved{
		GVK:        gvk,
		Resource:   d.gv.WithResource(m.resource),
		Namespaced: m.namespaced,
	}
	if name, ok := d.kinds[kind]; ok {
		s, err := resolver.PopulateRefs(func(ref string) (*spec.Schema, bool) {
			c, ok := d.components[trimComponentsPrefix(ref)]
			return c, ok
		}, componentsPrefix+name)
		if err != nil {
			return nil, fmt.Errorf("resolving schema of %s: %w", gvk, err)
		}
		if r.Schema, err = completeRoot(s); err != nil {
			return nil, fmt.Errorf("resolving schema of %s: %w", gvk, err)
		}
	}
	d.resolved[kind] = r
	return r, nil
}

// completeRoot returns a copy of a kind's root schema that has string
// apiVersion and kind properties and a full ObjectMeta under metadata. The
// input is not modified.
func completeRoot(s *spec.Schema) (*spec.Schema, error) {
	out := *s
	out.Properties = make(map[string]spec.Schema, len(s.Properties)+3)
	for k, v := range s.Properties {
		out.Properties[k] = v
	}
	if err := completeTypeAndObjectMeta(&out); err != nil {
		return nil, err
	}
	return &out, nil
}

// completeTypeAndObjectMeta adds what an object schema needs to describe a
// Kubernetes object: string apiVersion and kind, and ObjectMeta under
// metadata when metadata has no properties of its own. s.Properties must be
// owned by the caller.
func completeTypeAndObjectMeta(s *spec.Schema) error {
	if s.Properties == nil {
		s.Properties = map[string]spec.Schema{}
	}
	for _, name := range []string{"apiVersion", "kind"} {
		if _, ok := s.Properties[name]; !ok {
			s.Properties[name] = *spec.StringProperty()
		}
	}
	if md, ok := s.Properties["metadata"]; !ok || len(md.Properties) == 0 {
		om, err := objectMetaSchema()
		if err != nil {
			return err
		}
		if ok && md.Description != "" {
			withDesc := *om
			withDesc.Description = md.Description
			om = &withDesc
		}
		s.Properties["metadata"] = *om
	}
	return nil
}

// forgetProse clears the descriptions, titles and examples of a schema and
// of every schema inside it. rgd never reads them, and they are most of
// the bytes of an OpenAPI document (of CRDs' especially), which stays
// parsed in memory while its group-version is cached.
func forgetProse(s *spec.Schema) {
	if s == nil {
		return
	}
	s.Description, s.Title, s.Example, s.ExternalDocs = "", "", nil, nil
	for k, p := range s.Properties {
		forgetProse(&p)
		s.Properties[k] = p
	}
	for k, p := range s.PatternProperties {
		forgetProse(&p)
		s.PatternProperties[k] = p
	}
	for k, p := range s.Definitions {
		forgetProse(&p)
		s.Definitions[k] = p
	}
	for _, list := range [][]spec.Schema{s.AllOf, s.AnyOf, s.OneOf} {
		for i := range list {
			forgetProse(&list[i])
		}
	}
	forgetProse(s.Not)
	if s.Items != nil {
		forgetProse(s.Items.Schema)
		for i := range s.Items.Schemas {
			forgetProse(&s.Items.Schemas[i])
		}
	}
	if s.AdditionalProperties != nil {
		forgetProse(s.AdditionalProperties.Schema)
	}
	if s.AdditionalItems != nil {
		forgetProse(s.AdditionalItems.Schema)
	}
}
