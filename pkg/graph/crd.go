package graph

import (
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/rgd-dev/rgd/pkg/crdgen"
)

// generateCRD builds the instance CRD from the compiled schema and status.
func (c *compiler) generateCRD() *extv1.CustomResourceDefinition {
	s := c.rgd.Spec.Schema
	in := crdgen.Input{
		Group:          c.instance.GVK.Group,
		Version:        c.instance.GVK.Version,
		Kind:           c.instance.GVK.Kind,
		Scope:          extv1.NamespaceScoped,
		Spec:           c.specProps,
		PrinterColumns: s.AdditionalPrinterColumns,
		ShortNames:     s.ShortNames,
		Categories:     s.Categories,
		RGDName:        c.rgd.Name,
	}
	if !c.instance.Namespaced {
		in.Scope = extv1.ClusterScoped
	}
	if c.statusSchema != nil && len(c.statusSchema.Properties) > 0 {
		in.Status = c.statusSchema
	}
	if s.Metadata != nil {
		in.Labels, in.Annotations = s.Metadata.Labels, s.Metadata.Annotations
	}
	crd, err := crdgen.Generate(in)
	if err != nil {
		c.errs.add("", "spec.schema", "", "%v", err)
		return nil
	}
	return crd
}
