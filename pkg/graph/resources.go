package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	k8sfield "k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// pendingResource holds what a resource needs between parsing and type
// checking.
type pendingResource struct {
	field       string // RGD path of the resource, spec.resources[i]
	sites       []site
	readyWhen   []string
	includeWhen []string
	forEach     []v1alpha1.ForEachDimension
	iterators   []string
	isCRD       bool
}

// parseResource checks one entry of spec.resources for everything that needs
// no types, resolves its kind and collects its expressions.
func (c *compiler) parseResource(i int, r *v1alpha1.Resource) {
	field := fmt.Sprintf("spec.resources[%d]", i)
	if r == nil {
		c.errs.add("", field, "", "empty resource")
		return
	}
	id := r.ID
	switch {
	case id == "":
		c.errs.add("", field+".id", "", "required: every resource needs an id")
		return
	case !resourceIDPattern.MatchString(id):
		c.errs.add(id, field+".id", "", "%q is not a valid id: expected lowerCamelCase matching %s", id, resourceIDPattern)
		return
	case reservedWords[id]:
		c.errs.add(id, field+".id", "", "%q is a reserved word and cannot be a resource id", id)
		return
	}
	if prev, dup := c.ids[id]; dup {
		c.errs.add(id, field+".id", "", "duplicate id: spec.resources[%d] already uses %q", prev.Index, id)
		return
	}
	res := &Resource{ID: id, Index: i}
	c.ids[id] = res
	c.resources = append(c.resources, res)
	pr := &pendingResource{field: field, readyWhen: r.ReadyWhen, includeWhen: r.IncludeWhen, forEach: r.ForEach}
	c.pending[res] = pr

	hasTemplate := r.Template != nil && len(r.Template.Raw) > 0 && string(r.Template.Raw) != "null"
	switch {
	case hasTemplate && r.ExternalRef != nil:
		c.errs.add(id, field, "", "exactly one of template or externalRef must be provided, not both")
		return
	case !hasTemplate && r.ExternalRef == nil:
		c.errs.add(id, field, "", "exactly one of template or externalRef must be provided")
		return
	case hasTemplate:
		c.parseTemplate(res, pr, r.Template.Raw)
	default:
		c.parseExternalRef(res, pr, r.ExternalRef)
	}
	c.parseConditions(res, pr)
	c.parseForEach(res, pr)
	c.parseLifecycle(res, field, r)
}

func (c *compiler) parseTemplate(res *Resource, pr *pendingResource, raw []byte) {
	field := pr.field + ".template"
	tc := c.cache.template(raw)
	obj := tc.object()
	if obj == nil {
		var err error
		if obj, err = decodeObject(raw); err != nil {
			c.errs.add(res.ID, field, "", "template must be an object: %v", err)
			return
		}
		tc.keep(obj)
	}
	res.Template = obj
	apiVersion, okAV := requireStaticString(c, res.ID, field, obj, "apiVersion")
	kind, okKind := requireStaticString(c, res.ID, field, obj, "kind")
	md, isMap := obj["metadata"].(map[string]any)
	if !isMap {
		if obj["metadata"] == nil {
			c.errs.add(res.ID, field+".metadata", "", "required: a template needs metadata (at least a name)")
		} else {
			c.errs.add(res.ID, field+".metadata", "", "expected an object, got %s", jsonKind(obj["metadata"]))
		}
	}
	if !okAV || !okKind {
		return
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		c.errs.add(res.ID, field+".apiVersion", "", "%q is not a valid apiVersion: %v", apiVersion, err)
		return
	}
	if msgs := validation.IsDNS1035Label(strings.ToLower(kind)); len(msgs) > 0 {
		c.errs.add(res.ID, field+".kind", "", "%q is not a valid kind: %s", kind, strings.Join(msgs, "; "))
		return
	}
	if isMap {
		for _, key := range []string{"labels", "annotations"} {
			m, _ := md[key].(map[string]any)
			for k := range m {
				if hasReservedPrefix(k) {
					c.errs.add(res.ID, field+".metadata."+key+"["+quote(k)+"]", "", "%s with the prefix kro.run/ or internal.kro.run/ are reserved for rgd", key)
				}
			}
		}
	}
	res.GVK = gv.WithKind(kind)
	resolved, ok := c.resolve(res, field, res.GVK)
	if !ok {
		return
	}
	res.GVR, res.Namespaced, res.Schema = resolved.Resource, resolved.Namespaced, resolved.Schema

	if isMap {
		if ns, has := md["namespace"]; has && !res.Namespaced && ns != nil && ns != "" {
			c.errs.add(res.ID, field+".metadata.namespace", "", "%s is cluster-scoped and cannot have a namespace", kind)
		}
		if _, has := md["namespace"]; res.Namespaced && !has && c.instance != nil && !c.instance.Namespaced {
			c.errs.add(res.ID, field+".metadata.namespace", "", "required: the instance kind is cluster-scoped, so the namespaced %s needs an explicit namespace", kind)
		}
	}

	c.walkTemplate(res, pr, tc, obj, field)
}

// walkTemplate collects the expressions of a template's values, checking
// them against the resource's schema (or, for a CRD, allowing them only
// under metadata).
func (c *compiler) walkTemplate(res *Resource, pr *pendingResource, tc *templateEntry, obj map[string]any, field string) {
	w := &walker{errs: &c.errs, resourceID: res.ID, fieldPrefix: field}
	schemaForWalk := res.Schema
	if res.GVK.Group == "apiextensions.k8s.io" && res.GVK.Kind == "CustomResourceDefinition" {
		// A CRD's own schema is too loose to type templates; like kro, rgd
		// takes a CRD template as it is and allows expressions only under
		// metadata.
		pr.isCRD = true
		schemaForWalk = nil
		w.exprAllowed = func(p Path) bool { return len(p) > 0 && p[0].Key == "metadata" }
	}
	// The walk depends on the template, the schema and the resource id
	// only; a walk that found no problem is kept with the template.
	wk := walkKey{schema: schemaForWalk, crd: pr.isCRD, id: res.ID}
	if sites, ok := tc.walked(wk); ok {
		pr.sites = sites
		return
	}
	before := len(c.errs.list)
	w.walk(obj, nil, schemaForWalk)
	pr.sites = w.sites
	if len(c.errs.list) == before {
		tc.addWalk(wk, w.sites)
	}
}

func (c *compiler) parseExternalRef(res *Resource, pr *pendingResource, ref *v1alpha1.ExternalRef) {
	field := pr.field + ".externalRef"
	res.External = true
	if ref.APIVersion == "" {
		c.errs.add(res.ID, field+".apiVersion", "", "required")
	}
	if ref.Kind == "" {
		c.errs.add(res.ID, field+".kind", "", "required")
	}
	sel := ref.Metadata.Selector
	hasName, hasSelector := ref.Metadata.Name != "", sel != nil && len(sel.Raw) > 0 && string(sel.Raw) != "null"
	if hasName == hasSelector {
		c.errs.add(res.ID, field+".metadata", "", "exactly one of name or selector must be provided")
	}
	if len(pr.forEach) > 0 {
		c.errs.add(res.ID, pr.field+".forEach", "", "forEach cannot be combined with externalRef")
	}
	if ref.APIVersion == "" || ref.Kind == "" {
		return
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		c.errs.add(res.ID, field+".apiVersion", "", "%q is not a valid apiVersion: %v", ref.APIVersion, err)
		return
	}
	res.GVK = gv.WithKind(ref.Kind)
	md := map[string]any{}
	if hasName {
		md["name"] = ref.Metadata.Name
	}
	if ref.Metadata.Namespace != "" {
		md["namespace"] = ref.Metadata.Namespace
	}
	if hasSelector {
		v, err := decodeValue(sel.Raw)
		if err != nil {
			c.errs.add(res.ID, field+".metadata.selector", "", "not JSON: %v", err)
			return
		}
		md["selector"] = v
		c.checkLiteralSelector(res.ID, field, v)
	}
	res.Template = map[string]any{"apiVersion": ref.APIVersion, "kind": ref.Kind, "metadata": md}
	resolved, ok := c.resolve(res, field, res.GVK)
	if !ok {
		return
	}
	res.GVR, res.Namespaced, res.Schema = resolved.Resource, resolved.Namespaced, resolved.Schema
	if !res.Namespaced && ref.Metadata.Namespace != "" {
		c.errs.add(res.ID, field+".metadata.namespace", "", "%s is cluster-scoped and cannot have a namespace", ref.Kind)
	}
	// Names, namespaces, the selector or its values may be computed: their
	// expressions are typed against the schema of an externalRef (the shape
	// of a literal selector was checked above).
	w := &walker{errs: &c.errs, resourceID: res.ID, fieldPrefix: field}
	w.walk(res.Template, nil, nil)
	refSchema := externalRefSchema()
	for i := range w.sites {
		w.sites[i].schema = schemaAt(refSchema, w.sites[i].path)
	}
	pr.sites = w.sites
}

// checkLiteralSelector checks what an externalRef's selector says before
// any expression is evaluated: one ${...} expression (typed later), or a
// label selector whose literal parts have the right shape.
func (c *compiler) checkLiteralSelector(id, refField string, sel any) {
	if s, isString := sel.(string); isString && !strings.Contains(s, "${") {
		c.errs.add(id, refField+".metadata.selector", "", "expected a label selector (an object with matchLabels and/or matchExpressions) or one ${...} expression returning one, got the string %q", s)
		return
	}
	for _, e := range checkSelector(sel, k8sfield.NewPath("metadata", "selector"), isExpressionValue) {
		c.errs.add(id, refField+"."+e.Field, "", "%s", e.ErrorBody())
	}
}

func (c *compiler) resolve(res *Resource, field string, gvk schema.GroupVersionKind) (*schemas.Resolved, bool) {
	resolved, err := c.opts.Resolver.Resolve(c.ctx, gvk)
	if errors.Is(err, schemas.ErrNotFound) {
		c.errs.addCode(CodeUnknownKind, res.ID, field+".kind", "", "unknown kind %s in %s: neither a built-in kind of Kubernetes nor served by a known CRD", gvk.Kind, gvk.GroupVersion())
		return nil, false
	}
	if err != nil {
		c.errs.addCode(CodeSchemaUnavailable, res.ID, field+".kind", "", "resolving the schema of %s: %v", gvk, err)
		return nil, false
	}
	return resolved, true
}

// parseConditions checks that readyWhen and includeWhen entries are single
// expressions.
func (c *compiler) parseConditions(res *Resource, pr *pendingResource) {
	check := func(kind string, exprs []string) []string {
		out := make([]string, 0, len(exprs))
		for j, e := range exprs {
			f := fmt.Sprintf("%s.%s[%d]", pr.field, kind, j)
			src, ok := standalone(c, res.ID, f, e)
			if ok {
				out = append(out, src)
			}
		}
		return out
	}
	pr.readyWhen = check("readyWhen", pr.readyWhen)
	pr.includeWhen = check("includeWhen", pr.includeWhen)
}

// parseForEach checks forEach dimensions.
func (c *compiler) parseForEach(res *Resource, pr *pendingResource) {
	if len(pr.forEach) == 0 || res.External {
		return
	}
	field := pr.field + ".forEach"
	if len(pr.forEach) > maxForEachDimensions {
		c.errs.add(res.ID, field, "", "%d dimensions, at most %d are allowed", len(pr.forEach), maxForEachDimensions)
	}
	seen := map[string]bool{}
	for j, dim := range pr.forEach {
		f := fmt.Sprintf("%s[%d]", field, j)
		if len(dim) != 1 {
			c.errs.add(res.ID, f, "", "each dimension must have exactly one entry {iterator: ${list}}, found %d", len(dim))
			continue
		}
		for name, expr := range dim {
			switch {
			case !iteratorPattern.MatchString(name):
				c.errs.add(res.ID, f+"."+name, "", "%q is not a valid iterator name: expected an identifier", name)
				continue
			case reservedWords[name]:
				c.errs.add(res.ID, f+"."+name, "", "%q is a reserved word and cannot be an iterator", name)
				continue
			case seen[name]:
				c.errs.add(res.ID, f+"."+name, "", "iterator %q is declared twice", name)
				continue
			}
			if _, isID := c.ids[name]; isID {
				c.errs.add(res.ID, f+"."+name, "", "iterator %q has the name of a resource id", name)
				continue
			}
			seen[name] = true
			src, ok := standalone(c, res.ID, f+"."+name, expr)
			if !ok {
				continue
			}
			pr.iterators = append(pr.iterators, name)
			res.ForEach = append(res.ForEach, &Dimension{Name: name, Expression: &Expression{Source: src}})
		}
	}
}

func requireStaticString(c *compiler, id, field string, obj map[string]any, key string) (string, bool) {
	v, present := obj[key]
	s, isString := v.(string)
	switch {
	case !present || v == nil:
		c.errs.add(id, field+"."+key, "", "required: a template needs %s", key)
		return "", false
	case !isString:
		c.errs.add(id, field+"."+key, "", "expected a string, got %s", jsonKind(v))
		return "", false
	case s == "":
		c.errs.add(id, field+"."+key, "", "required: %s is empty", key)
		return "", false
	case strings.Contains(s, "${"):
		c.errs.add(id, field+"."+key, s, "%s must be a constant: the kind of a resource cannot be computed", key)
		return "", false
	}
	return s, true
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// decodeValue decodes any JSON value into plain Go values, keeping integers
// as int64, as unstructured objects hold them.
func decodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normalizeNumbers(v), nil
}
