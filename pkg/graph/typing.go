package graph

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
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
				if err := c.checkFieldType(env, s.schema, compiled.OutputType, r.External); err != nil {
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

// checkStatus compiles the status expressions and infers the status schema.
func (c *compiler) checkStatus(env *celenv.Env) {
	root := &extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{}}
	for _, s := range c.statusSites {
		field := s.path.under("spec.schema.status")
		f := &Field{Path: s.path, Standalone: s.tmpl.IsStandalone()}
		var out *extv1.JSONSchemaProps
		ok := true
		for _, seg := range s.tmpl.Segments {
			if !seg.IsExpr {
				f.Parts = append(f.Parts, Part{Literal: seg.Literal})
				continue
			}
			c.forbidOmit("", field, seg.Expr, "status")
			compiled, good := c.compileExpr(env, "", field, seg.Expr)
			if !good {
				ok = false
				continue
			}
			expr := c.expression(env, compiled, nil)
			if len(expr.References) == 0 && !expr.UsesSchema {
				c.errs.add("", field, seg.Expr, "a status expression must read the instance (schema) or a resource")
				ok = false
				continue
			}
			if f.Standalone {
				out = env.SchemaForType(compiled.OutputType)
			} else if !isStringLike(compiled.OutputType) {
				c.errs.add("", field, seg.Expr, "part of a string template must return a string, this returns %s", typeName(compiled.OutputType))
				ok = false
			}
			f.Parts = append(f.Parts, Part{Expression: expr})
		}
		if !ok {
			continue
		}
		if !f.Standalone {
			out = &extv1.JSONSchemaProps{Type: "string"}
		}
		setSchemaAt(root, s.path, out)
		c.instance.Status = append(c.instance.Status, f)
	}
	c.statusSchema = root
	for i, src := range c.conditionSources {
		field := fmt.Sprintf("spec.schema.status.conditions[%d]", i)
		c.forbidOmit("", field, src, "status")
		compiled, ok := c.compileExpr(env, "", field, src)
		if !ok {
			continue
		}
		if !isConditionType(compiled.OutputType) {
			c.errs.add("", field, src, "a status condition must be a condition (runtime.newCondition(...)) or a list of them, this returns %s", typeName(compiled.OutputType))
			continue
		}
		c.instance.Conditions = append(c.instance.Conditions, c.expression(env, compiled, nil))
	}
}

// isConditionType accepts a condition map, a list of them, or dyn.
func isConditionType(t *cel.Type) bool {
	switch t.Kind() {
	case types.DynKind:
		return true
	case types.ListKind:
		return len(t.Parameters()) == 1 && isConditionType(t.Parameters()[0])
	case types.MapKind:
		p := t.Parameters()
		return len(p) == 2 && p[0].Kind() == types.StringKind && (p[1].Kind() == types.StringKind || p[1].Kind() == types.DynKind)
	}
	return false
}

// setSchemaAt places a leaf schema at p, creating the objects on the way.
func setSchemaAt(root *extv1.JSONSchemaProps, p Path, leaf *extv1.JSONSchemaProps) {
	cur := root
	for i, e := range p {
		if i == len(p)-1 {
			cur.Properties[e.Key] = *leaf
			return
		}
		next, ok := cur.Properties[e.Key]
		if !ok || next.Properties == nil {
			next = extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{}}
		}
		setSchemaAt(&next, p[i+1:], leaf)
		cur.Properties[e.Key] = next
		return
	}
}

func (c *compiler) compileExpr(env *celenv.Env, id, field, src string) (*celenv.Compiled, bool) {
	key := compileKey{env, src}
	r, done := c.compiled[key]
	if !done {
		entry := c.entries[env]
		if entry != nil {
			r, done = entry.check(src)
		}
		if !done {
			parsed, err := c.parseForCheck(src)
			if err == nil {
				r.compiled, r.err = env.CheckParsed(src, parsed)
				if r.err == nil {
					r.chains = celenv.Chains(r.compiled.AST)
				}
			} else {
				r.err = err
			}
			if entry != nil {
				entry.addCheck(src, r)
			}
		}
		c.compiled[key] = r
		if r.compiled != nil {
			c.chains[r.compiled] = r.chains
		}
	}
	compiled, err := r.compiled, r.err
	if err != nil {
		c.errs.add(id, field, src, "%v", cleanCELError(err))
		return nil, false
	}
	return compiled, true
}

func (c *compiler) compileBool(env *celenv.Env, id, field, src, what string) (*celenv.Compiled, bool) {
	compiled, ok := c.compileExpr(env, id, field, src)
	if !ok {
		return nil, false
	}
	out := compiled.OutputType
	if out.Kind() == types.OpaqueKind && out.TypeName() == "optional_type" && len(out.Parameters()) == 1 {
		out = out.Parameters()[0]
	}
	if out.Kind() != types.BoolKind && out.Kind() != types.DynKind {
		c.errs.add(id, field, src, "%s must return a bool, this returns %s", what, typeName(compiled.OutputType))
		return nil, false
	}
	return compiled, true
}

// expression records a compiled expression with what it reads.
func (c *compiler) expression(env *celenv.Env, compiled *celenv.Compiled, iterators []string) *Expression {
	e := &Expression{Source: compiled.Expr, Output: compiled.OutputType}
	if compiled.Program != nil {
		prg := compiled.Program
		e.plan = func() (cel.Program, error) { return prg, nil }
	} else {
		e.plan = func() (cel.Program, error) { return env.Plan(compiled) }
	}
	chains, ok := c.chains[compiled]
	if !ok {
		chains = celenv.Chains(compiled.AST)
	}
	refs := map[string]bool{}
	// The references to the environment's variables and the iterators.
	for _, ref := range chains {
		if _, isVar := env.Variable(ref.Root); !isVar && !slices.Contains(iterators, ref.Root) {
			continue
		}
		switch {
		case ref.Root == schemaVar:
			e.UsesSchema = true
		case slices.Contains(iterators, ref.Root):
			if !slices.Contains(e.Iterators, ref.Root) {
				e.Iterators = append(e.Iterators, ref.Root)
			}
		case c.ids[ref.Root] != nil:
			refs[ref.Root] = true
		}
	}
	for id := range refs {
		e.References = append(e.References, id)
	}
	slices.Sort(e.References)
	return e
}

// checkFieldType checks that an expression's type fits the schema of the
// field it fills.
func (c *compiler) checkFieldType(env *celenv.Env, s *spec.Schema, out *cel.Type, external bool) error {
	if s == nil || external {
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

func (c *compiler) usesIdent(src, name string) bool {
	refs, err := c.references(src, []string{name})
	if err != nil {
		return false
	}
	for _, r := range refs {
		if r.Root == name {
			return true
		}
	}
	return false
}

func isStringLike(t *cel.Type) bool {
	return t.Kind() == types.StringKind || t.Kind() == types.DynKind
}

func typeName(t *cel.Type) string {
	if t == nil {
		return "nothing"
	}
	return t.String()
}

// cleanCELError drops the noise of multi-line CEL errors to one line per issue.
func cleanCELError(err error) string {
	msg := err.Error()
	lines := strings.Split(msg, "\n")
	var keep []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		// cel-go follows each issue with the source line and a caret.
		if t == "" || strings.HasPrefix(t, "|") {
			continue
		}
		keep = append(keep, t)
	}
	return strings.Join(keep, "; ")
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

// toPlain turns a typed value into plain JSON values.
func toPlain(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// forbidOmit reports omit() where a value must exist: conditions, forEach,
// status, string templates and the identity of an object.
func (c *compiler) forbidOmit(id, field, src, where string) {
	if p := c.parse(src); p.info.err == nil && p.info.callsOmit {
		c.errs.add(id, field, src, "omit() is not allowed in %s: it may only remove an optional template field", where)
	}
}

// isIdentityField reports whether p is metadata.name, or metadata.namespace
// when the object's namespace cannot be defaulted.
func isIdentityField(p Path, namespaceRequired bool) bool {
	if len(p) != 2 || p[0].Key != "metadata" {
		return false
	}
	return p[1].Key == "name" || p[1].Key == "namespace" && namespaceRequired
}
