package celenv

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
)

// Reference is one use of a declared variable.
type Reference struct {
	// Root is the variable name, e.g. "deployment".
	Root string
	// Path is the dotted field path starting with the root, e.g. "deployment.status.availableReplicas". The
	// path follows field selections only: an index or a function call ends it.
	Path string
}

// References lists every use of a root name in a (parsed or checked) AST, in source order without
// duplicates. Comprehension loop variables, accumulators and cel.bind names shadow roots of the same name.
func References(a *cel.Ast, roots []string) []Reference {
	known := make(map[string]bool, len(roots))
	for _, r := range roots {
		known[r] = true
	}
	w := &walker{isRoot: func(n string) bool { return known[n] }}
	w.walk(a.NativeRep().Expr(), nil)
	return w.refs
}

// Chains lists every chain of field selections in a (parsed or checked) AST
// that starts at an identifier no comprehension or cel.bind shadows, whatever
// the identifier, in source order without duplicates. It does not depend on
// the declarations, so it can be computed once per expression:
// References(a, roots) equals FilterReferences(Chains(a), roots).
func Chains(a *cel.Ast) []Reference {
	w := &walker{isRoot: func(string) bool { return true }}
	w.walk(a.NativeRep().Expr(), nil)
	return w.refs
}

// FilterReferences keeps the references whose root is one of roots, in
// order.
func FilterReferences(refs []Reference, roots []string) []Reference {
	var out []Reference
	for _, r := range refs {
		if slices.Contains(roots, r.Root) {
			out = append(out, r)
		}
	}
	return out
}

// References lists every use of the environment's variables in a.
func (e *Env) References(a *cel.Ast) []Reference {
	return References(a, e.VariableNames())
}

// Inspection is what a parse-only look at an expression finds.
type Inspection struct {
	// References are the uses of known roots.
	References []Reference
	// UnknownIdentifiers are root identifiers that are neither known, bound by a loop, nor a type name.
	UnknownIdentifiers []string
	// UnknownFunctions are called functions that the environment does not declare.
	UnknownFunctions []string
	// Functions are all functions called (qualified names such as "hash.sha256" when declared so),
	// operators excluded.
	Functions []string
}

// Inspect parses expr (no type check) and reports which of the known names it uses, and which identifiers and
// functions are unknown, so errors can name them before type checking. known are the identifiers in scope in
// addition to the environment's variables.
func (e *Env) Inspect(expr string, known []string) (*Inspection, error) {
	a, iss := e.env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %s", expr, iss.Err().Error())
	}
	set := map[string]bool{}
	for _, n := range known {
		set[n] = true
	}
	for n := range e.vars {
		set[n] = true
	}
	funcs := e.env.Functions()
	unknownIdents := map[string]bool{}
	w := &walker{
		isRoot: func(n string) bool { return set[n] },
		isFunc: func(n string) bool { _, ok := funcs[n]; return ok },
		onUnknown: func(n string) {
			if _, ok := e.env.CELTypeProvider().FindIdent(n); !ok {
				unknownIdents[n] = true
			}
		},
		funcs: map[string]bool{},
	}
	w.walk(a.NativeRep().Expr(), nil)
	out := &Inspection{References: w.refs}
	out.UnknownIdentifiers = sortedKeys(unknownIdents)
	unknownFuncs := map[string]bool{}
	for f := range w.funcs {
		if _, ok := funcs[f]; !ok {
			unknownFuncs[f] = true
		}
		if !isOperator(f) {
			out.Functions = append(out.Functions, f)
		}
	}
	sort.Strings(out.Functions)
	out.UnknownFunctions = sortedKeys(unknownFuncs)
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isOperator(name string) bool {
	return strings.HasPrefix(name, "_") || strings.HasPrefix(name, "@") || strings.HasPrefix(name, "!")
}

// walker collects references, unknown identifiers and called functions from a native AST.
type walker struct {
	isRoot    func(string) bool
	isFunc    func(string) bool
	onUnknown func(string)
	funcs     map[string]bool
	refs      []Reference
	seen      map[Reference]bool
}

// scope is a linked list of names bound by comprehensions.
type scope struct {
	name   string
	parent *scope
}

func (s *scope) has(n string) bool {
	for ; s != nil; s = s.parent {
		if s.name == n {
			return true
		}
	}
	return false
}

func (s *scope) with(names ...string) *scope {
	for _, n := range names {
		if n != "" {
			s = &scope{name: n, parent: s}
		}
	}
	return s
}

func (w *walker) add(root, path string) {
	r := Reference{Root: root, Path: path}
	if w.seen == nil {
		w.seen = map[Reference]bool{}
	}
	if !w.seen[r] {
		w.seen[r] = true
		w.refs = append(w.refs, r)
	}
}

// selectChain returns the identifier at the bottom of a chain of field selections and the selected fields,
// or ok=false when the chain ends in something else.
func selectChain(e ast.Expr) (root string, fields []string, ok bool) {
	// Collected from the outermost selection inwards, then reversed.
	for {
		if e.Kind() == ast.SelectKind {
			sel := e.AsSelect()
			fields = append(fields, sel.FieldName())
			e = sel.Operand()
			continue
		}
		if operand, field, isOpt := optionalSelect(e); isOpt {
			fields = append(fields, field)
			e = operand
			continue
		}
		break
	}
	if e.Kind() != ast.IdentKind {
		return "", nil, false
	}
	slices.Reverse(fields)
	return e.AsIdent(), fields, true
}

// chainPath renders root.field1.field2.
func chainPath(root string, fields []string) string {
	n := len(root)
	for _, f := range fields {
		n += 1 + len(f)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(root)
	for _, f := range fields {
		b.WriteByte('.')
		b.WriteString(f)
	}
	return b.String()
}

// optionalSelect recognises x.?field, which parses as the call _?._(x, "field").
func optionalSelect(e ast.Expr) (operand ast.Expr, field string, ok bool) {
	if e.Kind() != ast.CallKind {
		return nil, "", false
	}
	call := e.AsCall()
	if call.FunctionName() != "_?._" || len(call.Args()) != 2 || call.Args()[1].Kind() != ast.LiteralKind {
		return nil, "", false
	}
	name, isString := call.Args()[1].AsLiteral().Value().(string)
	if !isString {
		return nil, "", false
	}
	return call.Args()[0], name, true
}

func (w *walker) walk(e ast.Expr, sc *scope) {
	if e == nil {
		return
	}
	switch e.Kind() {
	case ast.IdentKind, ast.SelectKind:
		root, fields, ok := selectChain(e)
		if !ok {
			w.walk(e.AsSelect().Operand(), sc)
			return
		}
		if sc.has(root) {
			return
		}
		if w.isRoot(root) {
			w.add(root, chainPath(root, fields))
			return
		}
		if w.onUnknown != nil {
			w.onUnknown(root)
		}
	case ast.CallKind:
		if _, _, isOpt := optionalSelect(e); isOpt {
			if root, fields, ok := selectChain(e); ok && !sc.has(root) && w.isRoot(root) {
				w.add(root, chainPath(root, fields))
				return
			}
		}
		call := e.AsCall()
		name := call.FunctionName()
		if call.IsMemberFunction() {
			// hash.sha256(x) parses as a member call on the identifier "hash": prefer the qualified global.
			if root, fields, ok := selectChain(call.Target()); ok && !sc.has(root) && !w.isRoot(root) && w.isFunc != nil {
				qualified := strings.Join(append(append([]string{root}, fields...), name), ".")
				if w.isFunc(qualified) {
					w.recordFunc(qualified)
					for _, arg := range call.Args() {
						w.walk(arg, sc)
					}
					return
				}
			}
			w.walk(call.Target(), sc)
		}
		w.recordFunc(name)
		for _, arg := range call.Args() {
			w.walk(arg, sc)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		w.walk(c.IterRange(), sc)
		w.walk(c.AccuInit(), sc)
		inner := sc.with(c.IterVar(), c.IterVar2(), c.AccuVar())
		w.walk(c.LoopCondition(), inner)
		w.walk(c.LoopStep(), inner)
		w.walk(c.Result(), sc.with(c.AccuVar()))
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			w.walk(el, sc)
		}
	case ast.MapKind:
		for _, entry := range e.AsMap().Entries() {
			me := entry.AsMapEntry()
			w.walk(me.Key(), sc)
			w.walk(me.Value(), sc)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			w.walk(f.AsStructField().Value(), sc)
		}
	}
}

func (w *walker) recordFunc(name string) {
	if w.funcs != nil {
		w.funcs[name] = true
	}
}

// CallsFunction reports whether a parsed or checked expression calls the
// function (a global or member call by that name).
func CallsFunction(a *cel.Ast, name string) bool {
	found := false
	var visit func(e ast.Expr)
	visit = func(e ast.Expr) {
		if found || e == nil {
			return
		}
		switch e.Kind() {
		case ast.CallKind:
			call := e.AsCall()
			if call.FunctionName() == name {
				found = true
				return
			}
			if call.IsMemberFunction() {
				visit(call.Target())
			}
			for _, arg := range call.Args() {
				visit(arg)
			}
		case ast.SelectKind:
			visit(e.AsSelect().Operand())
		case ast.ListKind:
			for _, el := range e.AsList().Elements() {
				visit(el)
			}
		case ast.MapKind:
			for _, entry := range e.AsMap().Entries() {
				me := entry.AsMapEntry()
				visit(me.Key())
				visit(me.Value())
			}
		case ast.StructKind:
			for _, f := range e.AsStruct().Fields() {
				visit(f.AsStructField().Value())
			}
		case ast.ComprehensionKind:
			comp := e.AsComprehension()
			visit(comp.IterRange())
			visit(comp.AccuInit())
			visit(comp.LoopCondition())
			visit(comp.LoopStep())
			visit(comp.Result())
		}
	}
	visit(a.NativeRep().Expr())
	return found
}
