package graph

import (
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// fieldUse records which fields of each variable the expressions select.
// Typing a variable from the complete schema of its kind is the dominant
// cost of a compilation (a Deployment's schema has thousands of nodes), so
// each resource is typed from the part of its schema that expressions reach:
// every selected path, with everything below where the path ends.
type fieldUse map[string][][]string

// collectFieldUse parses every expression once and records the select
// chains of each resource id.
func (c *compiler) collectFieldUse() fieldUse {
	use := fieldUse{}
	roots := make([]string, 0, len(c.resources)+1)
	for _, r := range c.resources {
		roots = append(roots, r.ID)
	}
	roots = append(roots, schemaVar)
	record := func(src string, alias map[string]string, extra []string) {
		known := append(append([]string{}, roots...), extra...)
		refs, err := c.references(src, known)
		if err != nil {
			return // reported when type checking
		}
		for _, ref := range refs {
			root := ref.Root
			if to, ok := alias[root]; ok {
				root = to
			}
			if c.ids[root] == nil && root != schemaVar {
				continue
			}
			segs := strings.Split(ref.Path, ".")[1:]
			use[root] = append(use[root], segs)
		}
	}
	for _, r := range c.resources {
		pr := c.pending[r]
		for _, s := range pr.sites {
			for _, e := range s.tmpl.Expressions() {
				record(e, nil, nil)
			}
		}
		for _, e := range pr.includeWhen {
			record(e, nil, nil)
		}
		for _, d := range r.ForEach {
			record(d.Expression.Source, nil, nil)
		}
		for _, e := range pr.readyWhen {
			record(e, map[string]string{eachVar: r.ID}, []string{eachVar})
		}
	}
	for _, s := range c.statusSites {
		for _, e := range s.tmpl.Expressions() {
			record(e, nil, nil)
		}
	}
	return use
}

// pruneSchema returns the part of s that the paths reach. A nil result
// means no path reaches into s: an empty object.
func pruneSchema(s *spec.Schema, paths [][]string) *spec.Schema {
	if s == nil {
		return nil
	}
	for _, p := range paths {
		if len(p) == 0 {
			return s
		}
	}
	out := *s
	out.Properties = nil
	out.AdditionalProperties = nil
	out.Items = nil
	out.Required = nil
	byField := map[string][][]string{}
	var order []string
	for _, p := range paths {
		if _, seen := byField[p[0]]; !seen {
			order = append(order, p[0])
		}
		byField[p[0]] = append(byField[p[0]], p[1:])
	}
	var mapTails [][]string
	for _, name := range order {
		tails := byField[name]
		if prop, ok := s.Properties[name]; ok {
			if out.Properties == nil {
				out.Properties = map[string]spec.Schema{}
			}
			out.Properties[name] = *pruneSchema(&prop, tails)
			continue
		}
		// A key of a map (or a field that does not exist, which the type
		// checker reports): what is selected below any key shapes the value
		// type of every key.
		mapTails = append(mapTails, tails...)
	}
	if len(mapTails) > 0 && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: pruneSchema(s.AdditionalProperties.Schema, mapTails)}
	}
	if len(out.Properties) == 0 && out.AdditionalProperties == nil && s.AdditionalProperties != nil {
		out.AdditionalProperties = s.AdditionalProperties
	}
	return &out
}
