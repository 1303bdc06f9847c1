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
	use := c.collectFieldUse()
	c.celSchemas = make(map[string]*spec.Schema, len(c.resources))
	for _, r := range c.resources {
		if r.Schema != nil {
			pruned := pruneSchema(r.Schema, use[r.ID])
			if pruned == nil {
				pruned = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}
			}
			c.celSchemas[r.ID] = pruned
		}
	}
	instance := pruneSchema(c.instance.Schema, use[schemaVar])
	if instance == nil {
		instance = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}
	}
	vars := []celenv.Variable{celenv.PrunedObjectVariable(schemaVar, instance)}
	for _, r := range c.resources {
		vars = append(vars, c.resourceVariable(r.ID, r))
	}
	env, err := c.base.NewEnv(vars)
	if err != nil {
		c.errs.add("", "spec", "", "building the CEL environment: %v", err)
		return nil, false
	}
	return env, true
}

// resourceVariable declares a resource's id, typed from the part of its
// schema that expressions use: an object, or a list for a collection.
func (c *compiler) resourceVariable(name string, r *Resource) celenv.Variable {
	s := c.celSchemas[r.ID]
	if s == nil {
		if r.IsCollection() {
			return celenv.TypedVariable(name, types.NewListType(types.DynType))
		}
		return celenv.DynVariable(name)
	}
	if r.IsCollection() {
		return celenv.PrunedListVariable(name, s)
	}
	return celenv.PrunedObjectVariable(name, s)
}

// findDependencies reads the resource ids that each resource's expressions
// use, from their parsed ASTs. readyWhen and status add no edges.
func (c *compiler) findDependencies(env *celenv.Env) {
	for _, r := range c.resources {
		pr := c.pending[r]
		deps := map[string]bool{}
		visit := func(field, src string) {
			a, err := c.parse(src)
			if err != nil {
				c.errs.add(r.ID, field, src, "%v", cleanCELError(err))
				return
			}
			for _, ref := range celenv.References(a, c.idList()) {
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
		if s := c.celSchemas[r.ID]; s != nil {
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
		if a, err := c.parse(src); err == nil {
			var others []string
			for _, ref := range celenv.References(a, append(c.idList(), eachVar, schemaVar)) {
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
		parsed, err := c.parseForCheck(src)
		if err == nil {
			r.compiled, r.err = env.CheckParsed(src, parsed)
		} else {
			r.err = err
		}
		c.compiled[key] = r
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
	roots := append(env.VariableNames(), iterators...)
	refs := map[string]bool{}
	for _, ref := range celenv.References(compiled.AST, roots) {
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
	a, err := c.parse(src)
	if err != nil {
		return false
	}
	for _, r := range celenv.References(a, []string{name}) {
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
	a, err := c.parse(src)
	if err != nil {
		return
	}
	if celenv.CallsFunction(a, "omit") {
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
