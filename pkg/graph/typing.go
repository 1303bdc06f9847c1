package graph

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/celenv"
)

// schemaVar is the CEL variable holding the instance.
const schemaVar = "schema"

// eachVar is the CEL variable of a collection's readyWhen: one item.
const eachVar = "each"

// buildEnv declares `schema` and every resource id with its type.
func (c *compiler) buildEnv() (*celenv.Env, bool) {
	c.fieldUse = c.collectFieldUse()
	for _, r := range c.resources {
		r.reads = c.fieldUse[r.ID]
		r.statusReads = readsOfStatus(r.reads)
	}
	// The instance schema is built from the RGD's SimpleSchema and scope.
	s := c.rgd.Spec.Schema
	namespaced := []byte{0}
	if c.instance.Namespaced {
		namespaced[0] = 1
	}
	specs := []varSpec{{name: schemaVar, kind: varObject, source: c.instance.Schema,
		sourceRaw: [][]byte{s.Spec.Raw, s.Types.Raw, namespaced}, paths: c.fieldUse[schemaVar]}}
	for _, r := range c.resources {
		specs = append(specs, c.resourceVariable(r.ID, r))
	}
	var key envKey
	var pins []*spec.Schema
	if c.cache != nil {
		key, pins = fingerprint(specs)
		c.envKey = &key
		if entry := c.cache.env(key); entry != nil && slices.Equal(entry.pins, pins) {
			c.entries = map[*celenv.Env]*envEntry{entry.env: entry}
			return entry.env, true
		}
	}
	vars := make([]celenv.Variable, len(specs))
	for i, v := range specs {
		if v.name == schemaVar {
			vars[i] = v.build(prunedOrEmpty(v.source, v.paths))
		} else {
			vars[i] = v.build(c.celSchema(c.ids[v.name]))
		}
	}
	env, err := c.base.NewEnv(vars)
	if err != nil {
		c.errs.add("", "spec", "", "building the CEL environment: %v", err)
		return nil, false
	}
	if c.cache != nil {
		entry := &envEntry{env: env, pins: pins}
		c.cache.addEnv(key, entry)
		c.entries = map[*celenv.Env]*envEntry{env: entry}
	}
	return env, true
}

// celSchema returns the part of a resource's schema that expressions reach
// (nil when the kind is schemaless), pruned on first use.
func (c *compiler) celSchema(r *Resource) *spec.Schema {
	if r.Schema == nil {
		return nil
	}
	if s, ok := c.celSchemas[r.ID]; ok {
		return s
	}
	if c.celSchemas == nil {
		c.celSchemas = map[string]*spec.Schema{}
	}
	s := prunedOrEmpty(r.Schema, c.fieldUse[r.ID])
	c.celSchemas[r.ID] = s
	return s
}

// prunedOrEmpty is pruneSchema, with an empty object where nothing is left.
func prunedOrEmpty(s *spec.Schema, paths [][]string) *spec.Schema {
	if pruned := pruneSchema(s, paths); pruned != nil {
		return pruned
	}
	return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}
}

// resourceVariable describes a resource's id, typed from the part of its
// schema that expressions use: an object, or a list for a collection.
func (c *compiler) resourceVariable(name string, r *Resource) varSpec {
	if r.Schema == nil {
		if r.IsCollection() {
			return varSpec{name: name, kind: varDynList}
		}
		return varSpec{name: name, kind: varDyn}
	}
	v := varSpec{name: name, kind: varObject, source: r.Schema, pinned: true, paths: c.fieldUse[r.ID]}
	if r.IsCollection() {
		v.kind = varList
	}
	return v
}

// findDependencies reads the resource ids that each resource's expressions
// use, from their parsed ASTs. readyWhen and status add no edges.
func (c *compiler) findDependencies(env *celenv.Env) {
	ids := c.idList()
	for _, r := range c.resources {
		pr := c.pending[r]
		deps := map[string]bool{}
		visit := func(field, src string) {
			refs, err := c.references(src, ids)
			if err != nil {
				c.errs.add(r.ID, field, src, "%v", cleanCELError(err))
				return
			}
			for _, ref := range refs {
				switch {
				case ref.Root == r.ID:
					c.errs.add(r.ID, field, src, "a resource cannot reference itself (%s); only readyWhen may", ref.Path)
				case c.ids[ref.Root] != nil:
					deps[ref.Root] = true
				}
			}
		}
		for _, s := range pr.sites {
			for _, e := range s.tmpl.Expressions() {
				visit(fieldOf(pr.field, r, s.path), e)
			}
		}
		for j, src := range pr.includeWhen {
			visit(fmt.Sprintf("%s.includeWhen[%d]", pr.field, j), src)
		}
		for j, d := range r.ForEach {
			visit(fmt.Sprintf("%s.forEach[%d].%s", pr.field, j, d.Name), d.Expression.Source)
		}
		r.Dependencies = r.Dependencies[:0]
		for _, other := range c.resources {
			if deps[other.ID] {
				r.Dependencies = append(r.Dependencies, other.ID)
			}
		}
	}
}

// fieldOf is the RGD path of a template value.
func fieldOf(resourceField string, r *Resource, p Path) string {
	prefix := resourceField + ".template"
	if r.External {
		prefix = resourceField + ".externalRef"
	}
	return p.under(prefix)
}

// typeCheck compiles every expression against the typed environment and
// checks its type against the field it fills.
func (c *compiler) typeCheck(env *celenv.Env) {
	for _, r := range c.resources {
		pr := c.pending[r]
		resEnv := env
		// forEach: each dimension must be a list; its iterator takes the
		// element type.
		var iterVars []celenv.Variable
		for j, d := range r.ForEach {
			field := fmt.Sprintf("%s.forEach[%d].%s", pr.field, j, d.Name)
			c.forbidOmit(r.ID, field, d.Expression.Source, "forEach")
			compiled, ok := c.compileExpr(env, r.ID, field, d.Expression.Source)
			if !ok {
				// Declare the iterator anyway so that the template's own
				// problems are reported, not a cascade of this one.
				iterVars = append(iterVars, celenv.DynVariable(d.Name))
				continue
			}
			out := compiled.OutputType
			if out.Kind() != types.ListKind && out.Kind() != types.DynKind {
				c.errs.add(r.ID, field, d.Expression.Source, "forEach must return a list, this returns %s", typeName(out))
				iterVars = append(iterVars, celenv.DynVariable(d.Name))
				continue
			}
			elem := types.DynType
			if out.Kind() == types.ListKind && len(out.Parameters()) == 1 {
				elem = out.Parameters()[0]
			}
			for _, it := range r.ForEach {
				if it != d && c.usesIdent(d.Expression.Source, it.Name) {
					c.errs.add(r.ID, field, d.Expression.Source, "forEach dimensions cannot reference each other's iterators (%s)", it.Name)
				}
			}
			d.Expression = c.expression(env, compiled, pr.iterators)
			iterVars = append(iterVars, celenv.TypedVariable(d.Name, elem))
		}
		if len(iterVars) > 0 {
			extended, err := env.Extend(iterVars...)
			if err != nil {
				c.errs.add(r.ID, pr.field+".forEach", "", "declaring iterators: %v", err)
				continue
			}
			resEnv = extended
		}

		for j, src := range pr.includeWhen {
			field := fmt.Sprintf("%s.includeWhen[%d]", pr.field, j)
			c.forbidOmit(r.ID, field, src, "includeWhen")
			if compiled, ok := c.compileBool(env, r.ID, field, src, "includeWhen"); ok {
				r.IncludeWhen = append(r.IncludeWhen, c.expression(env, compiled, nil))
			}
		}

		c.checkTemplateFields(resEnv, r, pr)
		c.checkIdentity(r, pr)
		c.checkReadyWhen(env, r, pr)
	}
	c.checkStatus(env)
}

// checkTemplateFields compiles the expressions of a template's values.
func (c *compiler) checkTemplateFields(env *celenv.Env, r *Resource, pr *pendingResource) {
	for _, s := range pr.sites {
		field := fieldOf(pr.field, r, s.path)
		f := &Field{Path: s.path, Standalone: s.tmpl.IsStandalone()}
		ok := true
		for _, seg := range s.tmpl.Segments {
			if !seg.IsExpr {
				f.Parts = append(f.Parts, Part{Literal: seg.Literal})
				continue
			}
			if isIdentityField(s.path, r.Namespaced && !c.instance.Namespaced) || !f.Standalone {
				c.forbidOmit(r.ID, field, seg.Expr, "this field")
			}
			compiled, good := c.compileExpr(env, r.ID, field, seg.Expr)
			if !good {
				ok = false
				continue
			}
			if f.Standalone {
				if err := c.checkFieldType(env, s.schema, compiled.OutputType); err != nil {
					if r.External && isSelectorPath(s.path) {
						err = selectorTypeError(env, compiled.OutputType)
					}
					c.errs.add(r.ID, field, seg.Expr, "%v", err)
					ok = false
				}
			} else if !isStringLike(compiled.OutputType) {
				c.errs.add(r.ID, field, seg.Expr, "part of a string template must return a string, this returns %s (wrap it in string(...))", typeName(compiled.OutputType))
				ok = false
			}
			f.Parts = append(f.Parts, Part{Expression: c.expression(env, compiled, pr.iterators)})
		}
		if !f.Standalone && s.schema != nil && !schemaAllows(s.schema, "string") {
			c.errs.add(r.ID, field, s.tmpl.String(), "a string template always produces a string, but the field expects %s", describeSchemaType(s.schema))
			ok = false
		}
		if ok {
			r.Fields = append(r.Fields, f)
		}
	}
}

// checkIdentity enforces that every forEach iterator shapes the identity
// (name or namespace) of the objects it produces, so that they are unique.
func (c *compiler) checkIdentity(r *Resource, pr *pendingResource) {
	if len(r.ForEach) == 0 {
		return
	}
	used := map[string]bool{}
	for _, f := range r.Fields {
		if len(f.Path) != 2 || f.Path[0].Key != "metadata" || (f.Path[1].Key != "name" && !(f.Path[1].Key == "namespace" && r.Namespaced)) {
			continue
		}
		for _, e := range f.Expressions() {
			for _, it := range e.Iterators {
				used[it] = true
			}
		}
	}
	for j, d := range r.ForEach {
		if !used[d.Name] {
			c.errs.add(r.ID, fmt.Sprintf("%s.forEach[%d].%s", pr.field, j, d.Name), "",
				"iterator %q is not used in metadata.name%s: every forEach dimension must shape a unique identity for the objects it creates",
				d.Name, map[bool]string{true: " or metadata.namespace", false: ""}[r.Namespaced])
		}
	}
}

// checkReadyWhen compiles readyWhen: booleans about the resource itself (or
// `each` item of a collection).
func (c *compiler) checkReadyWhen(env *celenv.Env, r *Resource, pr *pendingResource) {
	if len(pr.readyWhen) == 0 {
		return
	}
	// A resource's readyWhen reads its own id, declared in the graph's
	// environment with the same type (the check below keeps it from reading
	// anything else); a collection's is judged item by item through `each`.
	readyEnv := env
	if r.IsCollection() {
		each := celenv.DynVariable(eachVar)
		if s := c.celSchema(r); s != nil {
			each = celenv.PrunedObjectVariable(eachVar, s)
		}
		var err error
		if readyEnv, err = c.base.NewEnv([]celenv.Variable{each}); err != nil {
			c.errs.add(r.ID, pr.field+".readyWhen", "", "building the CEL environment: %v", err)
			return
		}
	}
	allowed := r.ID
	if r.IsCollection() {
		allowed = eachVar
	}
	r.readyEnv = readyEnv
	for j, src := range pr.readyWhen {
		field := fmt.Sprintf("%s.readyWhen[%d]", pr.field, j)
		if refs, err := c.references(src, append(c.idList(), eachVar, schemaVar)); err == nil {
			var others []string
			for _, ref := range refs {
				if ref.Root != allowed && !slices.Contains(others, ref.Root) {
					others = append(others, ref.Root)
				}
			}
			if len(others) > 0 {
				c.errs.add(r.ID, field, src, "readyWhen may only reference %s, not %s", allowed, strings.Join(others, ", "))
				continue
			}
		}
		c.forbidOmit(r.ID, field, src, "readyWhen")
		if compiled, ok := c.compileBool(readyEnv, r.ID, field, src, "readyWhen"); ok {
			r.ReadyWhen = append(r.ReadyWhen, c.expression(readyEnv, compiled, nil))
		}
	}
}

// checkFieldType checks that an expression's type fits the schema of the
// field it fills.
func (c *compiler) checkFieldType(env *celenv.Env, s *spec.Schema, out *cel.Type) error {
	if s == nil {
		return nil
	}
	expected := celenv.SchemaVariable("field", s)
	return env.CheckAssignable(expected.DeclType, out)
}

// idList returns the resource ids in declaration order.
func (c *compiler) idList() []string {
	ids := make([]string, len(c.resources))
	for i, r := range c.resources {
		ids[i] = r.ID
	}
	return ids
}

// isIdentityField reports whether p is metadata.name, or metadata.namespace
// when the object's namespace cannot be defaulted.
func isIdentityField(p Path, namespaceRequired bool) bool {
	if len(p) != 2 || p[0].Key != "metadata" {
		return false
	}
	return p[1].Key == "name" || p[1].Key == "namespace" && namespaceRequired
}
