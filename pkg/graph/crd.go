package graph

import (
	"crypto/sha256"
	"encoding/json"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/rgd-dev/rgd/pkg/crdgen"
)

// generateCRD builds the instance CRD from the compiled schema and status.
func (c *compiler) generateCRD() *extv1.CustomResourceDefinition {
	s := c.rgd.Spec.Schema
	// The CRD is made from the RGD's name, its spec.schema and the status
	// types, which the environment's declarations decide.
	var key crdKey
	cacheable, validated := false, false
	if c.cache != nil && c.envKey != nil {
		if raw, err := json.Marshal(s); err == nil {
			h := sha256.New()
			h.Write(c.envKey[:])
			h.Write([]byte(c.rgd.Name))
			h.Write([]byte{0})
			h.Write(raw)
			h.Sum(key[:0])
			cacheable = true
			validated = c.cache.validated(key)
		}
	}
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
	generate := crdgen.Generate
	if validated {
		// The API server's validation accepted this very CRD before.
		generate = crdgen.Build
	}
	crd, err := generate(in)
	if err != nil {
		c.errs.add("", "spec.schema", "", "%v", err)
		return nil
	}
	if cacheable && !validated {
		c.cache.addValidated(key)
	}
	return crd
}
