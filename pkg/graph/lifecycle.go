package graph

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// What happens to a template resource's objects besides being applied: its
// deletionPolicy (deleted or left in place when rgd no longer wants them)
// and its externalFields (fields rgd leaves to another field manager once
// that manager writes them).

// Orphans reports whether rgd leaves the resource's objects in place,
// released, when it no longer wants them, instead of deleting them.
func (r *Resource) Orphans() bool {
	return r.DeletionPolicy == v1alpha1.DeletionPolicyOrphaned || r.DeletionPolicy == v1alpha1.DeletionPolicyDetach
}

// identityPaths are the fields of an object that name it: they cannot be
// left to another field manager.
var identityPaths = toSet("apiVersion", "kind", "metadata", "metadata.name", "metadata.namespace", "metadata.generateName")

// parseLifecycle checks a resource's deletionPolicy and externalFields; both
// apply to templates only.
func (c *compiler) parseLifecycle(res *Resource, field string, r *v1alpha1.Resource) {
	switch r.DeletionPolicy {
	case "", v1alpha1.DeletionPolicyDelete, v1alpha1.DeletionPolicyOrphaned, v1alpha1.DeletionPolicyDetach:
		res.DeletionPolicy = r.DeletionPolicy
	default:
		c.errs.add(res.ID, field+".deletionPolicy", "", "%q is not a deletion policy: expected %s (the default), %s or %s",
			r.DeletionPolicy, v1alpha1.DeletionPolicyDelete, v1alpha1.DeletionPolicyOrphaned, v1alpha1.DeletionPolicyDetach)
	}
	if res.External {
		if r.DeletionPolicy != "" {
			c.errs.add(res.ID, field+".deletionPolicy", "", "only a template resource has a deletion policy: rgd never deletes an externalRef's object")
		}
		if len(r.ExternalFields) > 0 {
			c.errs.add(res.ID, field+".externalFields", "", "only a template resource has external fields: rgd never writes an externalRef's object")
		}
		return
	}
	for j, p := range r.ExternalFields {
		path, ok := c.externalField(res, fmt.Sprintf("%s.externalFields[%d]", field, j), p)
		if ok && !slices.ContainsFunc(res.ExternalFields, func(q []string) bool { return slices.Equal(q, path) }) {
			res.ExternalFields = append(res.ExternalFields, path)
		}
	}
}

// externalField checks one externalFields entry: a dotted path to a field
// the template sets, through objects only (never through a list), that does
// not name the object.
func (c *compiler) externalField(res *Resource, field, dotted string) ([]string, bool) {
	path := strings.Split(dotted, ".")
	if slices.Contains(path, "") {
		c.errs.add(res.ID, field, "", "%q is not a dotted path: expected field names joined by dots, such as spec.replicas", dotted)
		return nil, false
	}
	if identityPaths[dotted] {
		c.errs.add(res.ID, field, "", "%s names the object and cannot be left to another field manager", dotted)
		return nil, false
	}
	if res.Template == nil {
		return nil, false // the template itself is wrong, and says so
	}
	var at any = res.Template
	for i, key := range path {
		switch m := at.(type) {
		case map[string]any:
			v, ok := m[key]
			if !ok {
				c.errs.add(res.ID, field, "", "%s is not in the template: an external field must be one the template sets", strings.Join(path[:i+1], "."))
				return nil, false
			}
			at = v
		case []any:
			c.errs.add(res.ID, field, "", "%s crosses the list %s: an external field may not be inside a list", dotted, strings.Join(path[:i], "."))
			return nil, false
		default:
			what := jsonKind(at)
			if s, ok := at.(string); ok && strings.Contains(s, "${") {
				what = "computed by an expression"
			}
			c.errs.add(res.ID, field, "", "%s is not in the template: %s is %s, not an object", dotted, strings.Join(path[:i], "."), what)
			return nil, false
		}
	}
	return path, true
}
