package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/celenv"
	"github.com/rgd-dev/rgd/pkg/cellib"
	"github.com/rgd-dev/rgd/pkg/crdgen"
	"github.com/rgd-dev/rgd/pkg/schemas"
	"github.com/rgd-dev/rgd/pkg/simpleschema"
	"github.com/rgd-dev/rgd/pkg/template"
)

// Options configure Compile.
type Options struct {
	// Resolver answers the schema and REST mapping of every kind the RGD
	// creates or reads. Required.
	Resolver schemas.Resolver
	// CELOptions add libraries to the CEL environment, after rgd's own
	// (package cellib). A compilation with CELOptions uses no Cache.
	CELOptions []cel.EnvOption
	// Cache keeps work between compilations (parsed expressions, typed
	// environments, schemas, templates, validated CRDs; see Cache); nil
	// means DefaultCache. Give each compilation NewCache(0, 0) to share
	// nothing.
	Cache *Cache
}

// Compile checks a ResourceGraphDefinition and compiles it into a Graph.
// When the RGD is invalid, the error is an ErrorList holding every problem.
func Compile(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, opts Options) (*Graph, error) {
	if rgd == nil {
		return nil, errors.New("no ResourceGraphDefinition given")
	}
	if opts.Resolver == nil {
		return nil, errors.New("graph.Compile needs a schema resolver")
	}
	base, err := celBase(opts.CELOptions)
	if err != nil {
		return nil, err
	}
	cache := opts.Cache
	if cache == nil {
		cache = DefaultCache
	}
	if len(opts.CELOptions) > 0 {
		// Another base, other parses and types.
		cache = nil
	}
	c := &compiler{
		cache:    cache,
		ctx:      ctx,
		opts:     opts,
		rgd:      rgd,
		errs:     errs{rgd: rgd.Name},
		ids:      map[string]*Resource{},
		base:     base,
		parsed:   map[string]*parsedExpr{},
		chains:   map[*celenv.Compiled][]celenv.Reference{},
		compiled: map[compileKey]compileResult{},
	}
	g := c.compile()
	if len(c.errs.list) > 0 {
		return nil, c.errs.list.sorted()
	}
	return g, nil
}

// compiler holds the state of one compilation.
type compiler struct {
	ctx  context.Context
	opts Options
	rgd  *v1alpha1.ResourceGraphDefinition
	errs errs

	instance     *Instance
	specProps    *extv1.JSONSchemaProps
	statusRaw    map[string]any
	resources    []*Resource // in declaration order
	ids          map[string]*Resource
	pending      map[*Resource]*pendingResource
	statusSites  []site
	statusSchema *extv1.JSONSchemaProps
	// conditionSources are the author's status.conditions expressions.
	conditionSources []string
	// fieldUse records the paths expressions select; celSchemas are the
	// parts of the resources' schemas they reach, by id, pruned on first
	// use (see celSchema).
	fieldUse   fieldUse
	celSchemas map[string]*spec.Schema

	// base holds the CEL libraries.
	base *celenv.Base
	// cache is shared with other compilations (nil: none); entries are the
	// cached environments this compilation uses.
	cache   *Cache
	entries map[*celenv.Env]*envEntry
	// envKey digests the declarations of the graph's environment (set
	// when there is a cache).
	envKey *envKey
	// parsed and compiled memoise work on identical expressions.
	parsed   map[string]*parsedExpr
	compiled map[compileKey]compileResult
	// chains are the select chains of the checked expressions.
	chains map[*celenv.Compiled][]celenv.Reference
}

type compileKey struct {
	env *celenv.Env
	src string
}

type compileResult struct {
	compiled *celenv.Compiled
	// chains are the select chains of the checked AST (celenv.Chains).
	chains []celenv.Reference
	err    error
}

// defaultBase is the CEL environment of every compilation that adds no
// options of its own: rgd's function library, with random.seededString
// producing exactly kro's strings so that names derived from it survive a
// move from kro. Built once: it costs more than compiling a small RGD.
var defaultBase = sync.OnceValues(func() (*celenv.Base, error) {
	return celenv.NewBase(cellib.Library(cellib.KroCompatibleSeededString(true)))
})

func celBase(extra []cel.EnvOption) (*celenv.Base, error) {
	if len(extra) == 0 {
		return defaultBase()
	}
	return celenv.NewBase(append([]cel.EnvOption{cellib.Library(cellib.KroCompatibleSeededString(true))}, extra...)...)
}

// exprInfo is what a compilation reads from an expression's parse, before
// and apart from type checking. It does not depend on declarations, so a
// Cache shares it between compilations.
type exprInfo struct {
	// chains are the expression's select chains (celenv.Chains).
	chains []celenv.Reference
	// callsOmit is true when the expression calls omit().
	callsOmit bool
	// err is the parse error.
	err error
}

// parsedExpr is an expression as one compilation knows it.
type parsedExpr struct {
	info exprInfo
	// ast is this compilation's own parse (nil when info came from the
	// Cache); it may be handed once to the checker, which rewrites it.
	ast    *cel.Ast
	handed bool
}

// parse returns what the expression's parse tells, parsing it at most once
// per compilation, and not at all when the Cache knows it.
func (c *compiler) parse(src string) *parsedExpr {
	if p, ok := c.parsed[src]; ok {
		return p
	}
	p := &parsedExpr{}
	if info, ok := c.cache.info(src); ok {
		p.info = info
	} else {
		a, err := c.base.Parse(src)
		p.ast, p.info.err = a, err
		if err == nil {
			p.info.chains = celenv.Chains(a)
			p.info.callsOmit = celenv.CallsFunction(a, "omit")
		}
		c.cache.addInfo(src, p.info)
	}
	c.parsed[src] = p
	return p
}

// references returns the uses of roots in an expression.
func (c *compiler) references(src string, roots []string) ([]celenv.Reference, error) {
	p := c.parse(src)
	if p.info.err != nil {
		return nil, p.info.err
	}
	return celenv.FilterReferences(p.info.chains, roots), nil
}

// parseForCheck returns a parsed AST that the type checker may consume:
// cel-go's checker rewrites the tree it checks (qualified names become
// identifiers or global calls), so this compilation's own parse is handed
// to it once, and an expression checked again (in a second environment, or
// known from the Cache) is parsed again.
func (c *compiler) parseForCheck(src string) (*cel.Ast, error) {
	p := c.parse(src)
	if p.info.err != nil {
		return nil, p.info.err
	}
	if p.ast != nil && !p.handed {
		p.handed = true
		return p.ast, nil
	}
	return c.base.Parse(src)
}

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

func (c *compiler) compile() *Graph {
	c.pending = map[*Resource]*pendingResource{}
	// Without the instance schema nothing can be type-checked, but the
	// resources are still checked for what needs no types.
	c.compileSchema()
	for i, r := range c.rgd.Spec.Resources {
		c.parseResource(i, r)
	}
	c.parseStatus()
	if len(c.errs.list) > 0 {
		return nil
	}

	env, ok := c.buildEnv()
	if !ok {
		return nil
	}
	c.findDependencies(env)
	if len(c.errs.list) > 0 {
		return nil
	}
	ordered, cycles := orderResources(c.resources)
	for _, cycle := range cycles {
		c.errs.add(cycle[0], "spec.resources", "", "dependency cycle: %s -> %s", strings.Join(cycle, " -> "), cycle[0])
	}
	if len(cycles) > 0 {
		return nil
	}
	c.typeCheck(env)
	if len(c.errs.list) > 0 {
		return nil
	}
	crd := c.generateCRD()
	if crd == nil {
		return nil
	}
	g := &Graph{
		Name:      c.rgd.Name,
		Instance:  c.instance,
		CRD:       crd,
		Resources: ordered,
		byID:      c.ids,
		env:       env,
	}
	return g
}

// compileSchema checks spec.schema and turns its SimpleSchema into the
// OpenAPI schema of the instance.
func (c *compiler) compileSchema() {
	s := c.rgd.Spec.Schema
	if s == nil {
		c.errs.add("", "spec.schema", "", "required: an RGD needs a schema with kind and apiVersion")
		return
	}
	ok := true
	if !kindPattern.MatchString(s.Kind) {
		c.errs.add("", "spec.schema.kind", "", "%q is not a valid kind: expected UpperCamelCase matching %s", s.Kind, kindPattern)
		ok = false
	}
	if !apiVersionPattern.MatchString(s.APIVersion) {
		c.errs.add("", "spec.schema.apiVersion", "", "%q is not a valid version: expected v<N>, v<N>alpha<M> or v<N>beta<M>, such as v1alpha1", s.APIVersion)
		ok = false
	}
	group := s.Group
	if group == "" {
		group = v1alpha1.GroupName
	}
	for _, msg := range validation.IsDNS1123Subdomain(group) {
		c.errs.add("", "spec.schema.group", "", "%q is not a valid API group: %s", group, msg)
		ok = false
	}
	namespaced := true
	switch s.Scope {
	case "", v1alpha1.ResourceScopeNamespaced:
	case v1alpha1.ResourceScopeCluster:
		namespaced = false
	default:
		c.errs.add("", "spec.schema.scope", "", "%q is not a valid scope: expected Namespaced or Cluster", s.Scope)
		ok = false
	}

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
	hasName, hasSelector := ref.Metadata.Name != "", ref.Metadata.Selector != nil
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
		sel, err := toPlain(ref.Metadata.Selector)
		if err != nil {
			c.errs.add(res.ID, field+".metadata.selector", "", "%v", err)
			return
		}
		md["selector"] = sel
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
	// Names, namespaces and selector values may be computed; the walk is
	// schemaless because the values are checked as strings when typed.
	w := &walker{errs: &c.errs, resourceID: res.ID, fieldPrefix: field}
	w.walk(res.Template, nil, nil)
	pr.sites = w.sites
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

// parseStatus collects the status expressions; every leaf must be one.
func (c *compiler) parseStatus() {
	if c.statusRaw == nil {
		return
	}
	w := &walker{errs: &c.errs, fieldPrefix: "spec.schema.status"}
	var visit func(v any, p Path)
	visit = func(v any, p Path) {
		switch val := v.(type) {
		case map[string]any:
			keys := sortedKeys(val)
			for _, k := range keys {
				if len(p) == 0 && k == "state" {
					c.errs.add("", w.field(p.child(k)), "", "status.state is reserved: rgd writes it")
					continue
				}
				if len(p) == 0 && k == "conditions" {
					c.parseConditionList(val[k])
					continue
				}
				visit(val[k], p.child(k))
			}
		case string:
			tmpl, err := template.Parse(val)
			if err != nil {
				c.errs.add("", w.field(p), "", "%v", err)
				return
			}
			if !tmpl.HasExpressions() {
				c.errs.add("", w.field(p), "", "status fields must be ${...} expressions; %q is a constant", val)
				return
			}
			c.statusSites = append(c.statusSites, site{path: p, tmpl: tmpl})
		default:
			c.errs.add("", w.field(p), "", "status fields must be ${...} expressions, got %s", jsonKind(v))
		}
	}
	visit(c.statusRaw, nil)
}

// parseConditionList reads the author's status.conditions: a list of
// ${...} expressions, each returning a condition (runtime.newCondition) or a
// list of them.
func (c *compiler) parseConditionList(v any) {
	field := "spec.schema.status.conditions"
	list, ok := v.([]any)
	if !ok {
		c.errs.add("", field, "", "expected a list of ${runtime.newCondition(...)} expressions, got %s", jsonKind(v))
		return
	}
	for i, item := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		str, isString := item.(string)
		if !isString {
			c.errs.add("", f, "", "expected a ${...} expression returning a condition, got %s", jsonKind(item))
			continue
		}
		if src, ok := standalone(c, "", f, str); ok {
			c.conditionSources = append(c.conditionSources, src)
		}
	}
}

// standalone parses a value that must be exactly one ${...} expression.
func standalone(c *compiler, id, field, value string) (string, bool) {
	tmpl, err := template.Parse(value)
	if err != nil {
		c.errs.add(id, field, "", "%v", err)
		return "", false
	}
	if !tmpl.IsStandalone() {
		c.errs.add(id, field, value, "expected exactly one ${...} expression and nothing around it")
		return "", false
	}
	return tmpl.Expressions()[0], true
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

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

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
