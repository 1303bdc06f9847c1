package graph

import (
	"encoding/json"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/celenv"
	"github.com/rgd-dev/rgd/pkg/crdgen"
	"github.com/rgd-dev/rgd/pkg/simpleschema"
)

// compileSchema checks spec.schema and turns its SimpleSchema into the
// OpenAPI schema of the instance.
func (c *compiler) compileSchema() {
	s := c.rgd.Spec.Schema
	if s == nil {
		c.errs.add("", "spec.schema", "", "required: an RGD needs a schema with kind and apiVersion")
		return
	}
	group, namespaced, ok := c.checkSchemaNames(s)

	// The SimpleSchema's OpenAPI form and the instance schema depend on the
	// spec, the types and the scope only; a cached pair was made without
	// errors, so nothing is left to report.
	var key schemaKey
	var cached *instanceSchemas
	if c.cache != nil {
		key = instanceSchemaKey(s.Spec.Raw, s.Types.Raw, namespaced)
		cached = c.cache.schemas(key)
	}
	var props *extv1.JSONSchemaProps
	if cached != nil {
		props = cached.props
	} else {
		specMap, okSpec := c.decodeRaw(s.Spec.Raw, "spec.schema.spec")
		typesMap, okTypes := c.decodeRaw(s.Types.Raw, "spec.schema.types")
		if !okSpec || !okTypes {
			return
		}
		var fieldErrs field.ErrorList
		props, fieldErrs = simpleschema.ToOpenAPI(specMap, typesMap, simpleschema.Options{})
		for _, fe := range fieldErrs {
			c.errs.add("", fe.Field, "", "%s", fe.ErrorBody())
		}
		if len(fieldErrs) > 0 {
			return
		}
	}
	if !ok {
		return
	}
	c.specProps = props

	statusMap, okStatus := c.decodeRaw(s.Status.Raw, "spec.schema.status")
	if !okStatus {
		return
	}
	c.statusRaw = statusMap

	gvk := schema.GroupVersionKind{Group: group, Version: s.APIVersion, Kind: s.Kind}
	var instSchema *spec.Schema
	if cached != nil {
		instSchema = cached.instance
	} else {
		var err error
		if instSchema, err = instanceSchema(props, namespaced); err != nil {
			c.errs.add("", "spec.schema.spec", "", "%v", err)
			return
		}
		if c.cache != nil {
			c.cache.addSchemas(key, &instanceSchemas{props: props, instance: instSchema})
		}
	}
	c.instance = &Instance{
		GVK:        gvk,
		Resource:   gvk.GroupVersion().WithResource(crdgen.Plural(s.Kind)),
		Namespaced: namespaced,
		Schema:     instSchema,
	}
}

// checkSchemaNames checks the kind, apiVersion, group and scope of
// spec.schema, reporting every problem, and returns the group (defaulted)
// and whether instances are namespaced; ok is false when any was invalid.
func (c *compiler) checkSchemaNames(s *v1alpha1.Schema) (group string, namespaced, ok bool) {
	ok = true
	if !kindPattern.MatchString(s.Kind) {
		c.errs.add("", "spec.schema.kind", "", "%q is not a valid kind: expected UpperCamelCase matching %s", s.Kind, kindPattern)
		ok = false
	}
	if !apiVersionPattern.MatchString(s.APIVersion) {
		c.errs.add("", "spec.schema.apiVersion", "", "%q is not a valid version: expected v<N>, v<N>alpha<M> or v<N>beta<M>, such as v1alpha1", s.APIVersion)
		ok = false
	}
	group = s.Group
	if group == "" {
		group = v1alpha1.GroupName
	}
	for _, msg := range validation.IsDNS1123Subdomain(group) {
		c.errs.add("", "spec.schema.group", "", "%q is not a valid API group: %s", group, msg)
		ok = false
	}
	namespaced = true
	switch s.Scope {
	case "", v1alpha1.ResourceScopeNamespaced:
	case v1alpha1.ResourceScopeCluster:
		namespaced = false
	default:
		c.errs.add("", "spec.schema.scope", "", "%q is not a valid scope: expected Namespaced or Cluster", s.Scope)
		ok = false
	}
	return group, namespaced, ok
}

// decodeRaw decodes an optional JSON object of the RGD.
func (c *compiler) decodeRaw(raw []byte, field string) (map[string]any, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	m, err := decodeObject(raw)
	if err != nil {
		c.errs.add("", field, "", "%v", err)
		return nil, false
	}
	return m, true
}

// instanceSchema builds the schema of the `schema` variable: apiVersion, kind,
// metadata and spec of an instance (status is not readable).
func instanceSchema(specProps *extv1.JSONSchemaProps, namespaced bool) (*spec.Schema, error) {
	specSchema, err := propsToSchema(specProps)
	if err != nil {
		return nil, err
	}
	meta := celenv.ObjectMetaSchema()
	if !namespaced {
		props := make(map[string]spec.Schema, len(meta.Properties))
		for k, v := range meta.Properties {
			if k != "namespace" {
				props[k] = v
			}
		}
		meta.Properties = props
	}
	return &spec.Schema{SchemaProps: spec.SchemaProps{
		Type: spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{
			"apiVersion": *spec.StringProperty(),
			"kind":       *spec.StringProperty(),
			"metadata":   meta,
			"spec":       *specSchema,
		},
	}}, nil
}

// propsToSchema converts an apiextensions schema into a kube-openapi one.
func propsToSchema(p *extv1.JSONSchemaProps) (*spec.Schema, error) {
	if p == nil {
		return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}, nil
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	s := &spec.Schema{}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, err
	}
	return s, nil
}
