package graph

import (
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/rgd-dev/rgd/pkg/celenv"
	"github.com/rgd-dev/rgd/pkg/template"
)

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
	c.checkCost(id, field, compiled)
	return compiled, true
}

// checkCost reports an expression whose estimated worst-case cost is above
// the limit: a warning, or an error with Options.StrictCostEstimate.
func (c *compiler) checkCost(id, field string, compiled *celenv.Compiled) {
	err := compiled.CostError()
	if err == nil {
		return
	}
	if c.opts.StrictCostEstimate {
		c.errs.addCode(CodeCostEstimate, id, field, compiled.Expr, "%v (rejected: strict cost estimates are on)", err)
		return
	}
	c.warnings.addCode(CodeCostEstimate, id, field, compiled.Expr,
		"%v; the RGD is accepted, and each evaluation stops at the runtime cost limit of %d", err, celenv.PerCallCostLimit)
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

// forbidOmit reports omit() where a value must exist: conditions, forEach,
// status, string templates and the identity of an object.
func (c *compiler) forbidOmit(id, field, src, where string) {
	if p := c.parse(src); p.info.err == nil && p.info.callsOmit {
		c.errs.add(id, field, src, "omit() is not allowed in %s: it may only remove an optional template field", where)
	}
}
