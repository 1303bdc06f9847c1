package celenv

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

const (
	// PerCallCostLimit bounds the runtime cost of one evaluation (the API server's per-call limit).
	PerCallCostLimit uint64 = celconfig.PerCallLimit
	// MaxEstimatedCost is the largest estimated cost Compiled.CostError lets pass (the API server's
	// per-expression StaticEstimatedCostLimit for CRD validation rules).
	MaxEstimatedCost uint64 = 10_000_000
	// InterruptCheckFrequency is how many comprehension iterations run between checks for cancellation.
	InterruptCheckFrequency uint = 100
)

// ErrCostTooHigh is wrapped by the error Compiled.CostError gives for an expression whose estimated cost is
// above MaxEstimatedCost.
var ErrCostTooHigh = errors.New("estimated CEL cost exceeds the limit")

// Env is a typed CEL environment: the base libraries, extra options, and the declared variables.
type Env struct {
	base     *Base
	env      *cel.Env
	opts     []cel.EnvOption
	vars     map[string]Variable
	order    []Variable
	provider *apiservercel.DeclTypeProvider
	// dottedVars is whether a variable name contains a dot.
	dottedVars bool
	// schemas maps registered object type names to their prepared schemas (value conversion).
	schemas map[string]*spec.Schema
	// properties indexes, per object schema met while converting values
	// (*spec.Schema), a pointer to each of its properties' schemas
	// (map[string]*spec.Schema): spec.Schema holds them by value, and
	// converting through copies would allocate one per field per evaluation.
	properties sync.Map
}

// Base is a CEL environment with the libraries and no variables. Building
// one costs about 0.2 ms (every library's functions are registered), so build
// it once and derive typed environments from it with NewEnv; it is safe for
// concurrent use.
type Base struct {
	env  *cel.Env
	opts []cel.EnvOption
	// typeChains is whether plain select chains may be typed without the
	// checker (see checkChain).
	typeChains bool
}

// NewBase builds a Base with BaseOptions followed by opts (e.g. rgd's
// function library).
func NewBase(opts ...cel.EnvOption) (*Base, error) {
	env, err := NewBaseEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("building the base CEL environment: %w", err)
	}
	return &Base{env: env, opts: opts, typeChains: chainTypingAllowed(env)}, nil
}

// Parse parses expr without declaring anything (see Env.Parse). A plain
// chain of field selections (schema.spec.name) is built without running the
// CEL parser, into the same AST.
func (b *Base) Parse(expr string) (*cel.Ast, error) {
	if a, ok := parseChain(expr); ok {
		return a, nil
	}
	parsed, iss := b.env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %s", expr, iss.Err().Error())
	}
	return parsed, nil
}

// NewEnv builds an environment with the base libraries, opts (e.g. rgd's function library) and vars.
// Object types found in the variables' DeclTypes are registered; field names that are CEL keywords (such as
// metadata.namespace) can be selected by their plain name.
func NewEnv(vars []Variable, opts ...cel.EnvOption) (*Env, error) {
	base, err := NewBase(opts...)
	if err != nil {
		return nil, err
	}
	return base.NewEnv(vars)
}

// NewEnv declares vars on top of the base's libraries.
func (b *Base) NewEnv(vars []Variable) (*Env, error) {
	e := &Env{base: b, opts: b.opts, vars: map[string]Variable{}, schemas: map[string]*spec.Schema{}}
	var roots []*apiservercel.DeclType
	var decls []cel.EnvOption
	for _, v := range vars {
		if v.Name == "" {
			return nil, errors.New("variable with an empty name")
		}
		if _, dup := e.vars[v.Name]; dup {
			return nil, fmt.Errorf("variable %q declared twice", v.Name)
		}
		if v.CelType == nil {
			v.CelType = types.DynType
		}
		e.vars[v.Name] = v
		e.order = append(e.order, v)
		if v.DeclType != nil {
			if r := rootObject(v.DeclType); r != nil {
				roots = append(roots, r)
			}
			if v.schema != nil {
				collectSchemas(v.DeclType, v.schema, e.schemas)
			}
		}
		decls = append(decls, cel.Variable(v.Name, v.CelType))
	}
	e.dottedVars = hasDottedName(e.vars)
	e.provider = apiservercel.NewDeclTypeProvider(roots...)
	e.provider.SetRecognizeKeywordAsFieldName(true)
	provOpts, err := e.provider.EnvOptions(b.env.CELTypeProvider())
	if err != nil {
		return nil, fmt.Errorf("registering schema types: %w", err)
	}
	e.env, err = b.env.Extend(append(provOpts, decls...)...)
	if err != nil {
		return nil, fmt.Errorf("declaring variables: %w", err)
	}
	return e, nil
}

// Extend returns a new environment with the same libraries and variables plus vars (e.g. forEach iterators).
func (e *Env) Extend(vars ...Variable) (*Env, error) {
	all := append(append([]Variable{}, e.order...), vars...)
	return e.base.NewEnv(all)
}

// CEL returns the underlying cel-go environment.
func (e *Env) CEL() *cel.Env { return e.env }

// Variable returns the declared variable called name.
func (e *Env) Variable(name string) (Variable, bool) {
	v, ok := e.vars[name]
	return v, ok
}

// VariableNames returns the declared variable names, sorted.
func (e *Env) VariableNames() []string {
	names := make([]string, 0, len(e.vars))
	for n := range e.vars {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// FindDeclType returns the DeclType registered under a CEL object type name.
func (e *Env) FindDeclType(name string) (*apiservercel.DeclType, bool) {
	return e.provider.FindDeclType(name)
}

// rootObject returns the outermost object type inside t (through lists and maps), or nil.
func rootObject(t *apiservercel.DeclType) *apiservercel.DeclType {
	for t != nil {
		switch {
		case t.IsObject():
			return t
		case t.IsList() || t.IsMap():
			t = t.ElemType
		default:
			return nil
		}
	}
	return nil
}

// collectSchemas walks a DeclType and the prepared schema it came from together, recording the schema of
// every named object type.
func collectSchemas(t *apiservercel.DeclType, s *spec.Schema, out map[string]*spec.Schema) {
	if t == nil || s == nil || isDyn(s) {
		return
	}
	switch {
	case t.IsObject():
		out[t.TypeName()] = s
		for name, f := range t.Fields {
			unescaped, ok := apiservercel.Unescape(name)
			if !ok {
				continue
			}
			if p, ok := s.Properties[unescaped]; ok {
				collectSchemas(f.Type, &p, out)
			}
		}
	case t.IsList():
		if s.Items != nil {
			collectSchemas(t.ElemType, s.Items.Schema, out)
		}
	case t.IsMap():
		if s.AdditionalProperties != nil {
			collectSchemas(t.ElemType, s.AdditionalProperties.Schema, out)
		}
	}
}

// Compiled is a type-checked expression with its planned program.
type Compiled struct {
	// Expr is the CEL source.
	Expr string
	// AST is the checked AST.
	AST *cel.Ast
	// OutputType is the type the expression evaluates to.
	OutputType *types.Type
	// Program evaluates the expression; every call is bounded by PerCallCostLimit. Nil after CheckParsed
	// until Plan is called.
	Program cel.Program
	// EstimatedCost is the static cost range of the expression.
	EstimatedCost checker.CostEstimate
}

// Compile type-checks expr, estimates its cost and plans a program with a per-call cost limit and interrupt
// checks. An estimate above MaxEstimatedCost is not an error here: Compiled.CostError reports it.
func (e *Env) Compile(expr string) (*Compiled, error) {
	parsed, err := e.Parse(expr)
	if err != nil {
		return nil, err
	}
	return e.CompileParsed(expr, parsed)
}

// Parse parses expr without type checking. A parsed AST does not depend on
// the variables, so it can be checked in any environment of the same Base
// (once: checking consumes it).
func (e *Env) Parse(expr string) (*cel.Ast, error) {
	parsed, iss := e.env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %s", expr, iss.Err().Error())
	}
	return parsed, nil
}

// CompileParsed is Compile for an expression already parsed by Parse.
func (e *Env) CompileParsed(expr string, parsed *cel.Ast) (*Compiled, error) {
	c, err := e.CheckParsed(expr, parsed)
	if err != nil {
		return nil, err
	}
	if c.Program, err = e.Plan(c); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckParsed type-checks a parsed expression and estimates its cost,
// without planning a program: planning costs as much as parsing and checking
// together, so a compiler can leave it to the first evaluation (see Plan).
// A plain chain of field selections is typed from the declarations without
// the checker, into the same result. CheckParsed consumes parsed (the
// checker rewrites the tree it checks, the chain typing types it in place):
// parse again to check the expression once more.
func (e *Env) CheckParsed(expr string, parsed *cel.Ast) (*Compiled, error) {
	if c, ok := e.checkChain(expr, parsed); ok {
		return c, nil
	}
	return e.checkWithCEL(expr, parsed)
}

// checkWithCEL is CheckParsed through cel-go's checker and cost estimator.
func (e *Env) checkWithCEL(expr string, parsed *cel.Ast) (*Compiled, error) {
	ast, iss := e.env.Check(parsed)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %s", expr, iss.Err().Error())
	}
	cost, err := e.env.EstimateCost(ast, e.costEstimator())
	if err != nil {
		return nil, fmt.Errorf("estimating the cost of %q: %w", expr, err)
	}
	return &Compiled{Expr: expr, AST: ast, OutputType: ast.OutputType(), EstimatedCost: cost}, nil
}

// Plan builds the program of a checked expression, bounded by
// PerCallCostLimit with interrupt checks.
func (e *Env) Plan(c *Compiled) (cel.Program, error) {
	prg, err := e.env.Program(c.AST,
		cel.CostLimit(PerCallCostLimit),
		cel.CostTracking(e.costEstimator()),
		cel.InterruptCheckFrequency(InterruptCheckFrequency),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, fmt.Errorf("planning %q: %w", c.Expr, err)
	}
	return prg, nil
}

// Compile is Env.Compile as a function.
func Compile(env *Env, expr string) (*Compiled, error) { return env.Compile(expr) }

// defaultMaxElements is the size assumed for a list, map or string whose size the estimator cannot trace to
// a schema (the result of a function such as orValue, a dyn value): the same bounds as for schemas that
// declare none (see UnboundedListItems).
const defaultMaxElements = uint64(max(UnboundedListItems, UnboundedStringLength))

// sizeEstimator gives sizes from the declared DeclTypes (maxItems, maxLength, maxProperties and the
// request-size estimates SchemaDeclType derives) and the request-size bound otherwise.
type sizeEstimator struct{ env *Env }

// EstimateSize implements checker.CostEstimator.
func (s *sizeEstimator) EstimateSize(node checker.AstNode) *checker.SizeEstimate {
	path := node.Path()
	if len(path) > 0 {
		if v, ok := s.env.vars[path[0]]; ok && v.DeclType != nil {
			t := v.DeclType
			for _, step := range path[1:] {
				t = stepInto(t, step)
				if t == nil {
					break
				}
			}
			if t != nil && t.MaxElements > 0 {
				return &checker.SizeEstimate{Min: 0, Max: uint64(t.MaxElements)}
			}
		}
	}
	return &checker.SizeEstimate{Min: 0, Max: defaultMaxElements}
}

// EstimateCallCost implements checker.CostEstimator; library.CostEstimator handles calls.
func (s *sizeEstimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}

func stepInto(t *apiservercel.DeclType, step string) *apiservercel.DeclType {
	switch {
	case step == "@items" && t.IsList(), step == "@values" && t.IsMap():
		return t.ElemType
	case step == "@keys" && t.IsMap():
		return t.KeyType
	case t.IsObject():
		if f, ok := t.Fields[step]; ok {
			return f.Type
		}
		if esc, ok := apiservercel.Escape(step); ok {
			if f, ok := t.Fields[esc]; ok {
				return f.Type
			}
		}
	case t.IsMap():
		return t.ElemType
	}
	return nil
}
