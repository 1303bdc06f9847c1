package celenv

import (
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// Most expressions in templates are plain selections such as
// schema.spec.name. Their type follows from the declared variable's type,
// one field at a time, so checkChain types them without cel-go's checker
// and cost estimator (about 25 µs an expression, most of a first compile),
// into the checked AST, output type and cost estimate the checker would
// give. Whatever the checker would treat differently (a name it could read
// as a qualified identifier, a field it would reject, a type parameter) is
// left to the checker, which then also words the error.

// callValidators are cel-go's AST validators that inspect only calls,
// literals and comprehensions, none of which a select chain has.
var callValidators = map[string]bool{
	"cel.validator.string_format": true, "cel.validator.cel_block": true,
	"cel.validator.duration": true, "cel.validator.timestamp": true, "cel.validator.matches": true,
	"cel.validator.homogeneous_literals": true, "cel.validator.comprehension_nesting_limit": true,
}

// chainTypingAllowed reports whether a base environment resolves names the
// way checkChain assumes: no container (names resolve as written), no AST
// validators but those of calls (nothing else to run after checking) and no
// variables of its own.
func chainTypingAllowed(env *cel.Env) bool {
	if len(env.Variables()) > 0 {
		return false
	}
	for _, v := range env.Validators() {
		if !callValidators[v.Name()] {
			return false
		}
	}
	cfg, err := env.ToConfig("rgd")
	return err == nil && cfg.Container == ""
}

// checkChain returns the checked form of parsed when it is a chain of
// field selections on a declared variable that the checker would accept,
// typing parsed in place; ok is false for anything else, and parsed is then
// untouched.
func (e *Env) checkChain(expr string, parsed *cel.Ast) (c *Compiled, ok bool) {
	if !e.base.typeChains || e.dottedVars {
		return nil, false
	}
	native := parsed.NativeRep()
	var sels []ast.Expr // outermost first
	node := native.Expr()
	for node.Kind() == ast.SelectKind {
		if node.AsSelect().IsTestOnly() {
			return nil, false
		}
		sels = append(sels, node)
		node = node.AsSelect().Operand()
	}
	if node.Kind() != ast.IdentKind {
		return nil, false
	}
	root := node.AsIdent()
	v, declared := e.vars[root]
	if !declared {
		return nil, false
	}
	provider := e.env.CELTypeProvider()
	typeMap := make(map[int64]*types.Type, len(sels)+1)
	t := v.CelType
	typeMap[node.ID()] = t
	cost := uint64(1) // the identifier
	qualified := root
	for i := len(sels) - 1; i >= 0; i-- {
		field := sels[i].AsSelect().FieldName()
		// The checker first reads root.a.b as a qualified name; a global
		// identifier or type of that name would change the meaning.
		qualified += "." + field
		if _, found := provider.FindIdent(qualified); found {
			return nil, false
		}
		if _, found := provider.FindStructType(qualified); found {
			return nil, false
		}
		switch t.Kind() {
		case types.MapKind:
			t = t.Parameters()[1]
			cost++
		case types.StructKind:
			ft, found := provider.FindStructFieldType(t.TypeName(), field)
			if !found {
				return nil, false
			}
			t = ft.Type
			cost++
		case types.DynKind:
			t = types.DynType
		default:
			return nil, false
		}
		typeMap[sels[i].ID()] = t
	}
	// The parsed AST becomes the checked one, as the checker would make it
	// (CheckParsed consumes its input either way).
	for id, t := range typeMap {
		native.SetType(id, t)
	}
	native.SetReference(node.ID(), ast.NewIdentReference(root, nil))
	return &Compiled{
		Expr: expr, AST: parsed, OutputType: parsed.OutputType(),
		EstimatedCost: checker.CostEstimate{Min: cost, Max: cost},
	}, true
}

// hasDottedName reports whether any variable name contains a dot (a
// qualified name the checker would match against select chains).
func hasDottedName(vars map[string]Variable) bool {
	for name := range vars {
		if strings.Contains(name, ".") {
			return true
		}
	}
	return false
}
