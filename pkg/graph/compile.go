package graph

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/celenv"
	"github.com/rgd-dev/rgd/pkg/cellib"
	"github.com/rgd-dev/rgd/pkg/schemas"
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
	// StrictCostEstimate rejects expressions whose estimated worst-case
	// cost is above celenv.MaxEstimatedCost (CodeCostEstimate errors);
	// by default they are Graph.Warnings.
	StrictCostEstimate bool
}

// Compile checks a ResourceGraphDefinition and compiles it into a Graph.
// When the RGD is invalid, the error is an ErrorList holding every problem;
// problems that do not stop it are the Graph's Warnings.
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
		warnings: errs{rgd: rgd.Name},
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
	if g != nil && len(c.warnings.list) > 0 {
		g.Warnings = c.warnings.list.sorted()
	}
	return g, nil
}

// compiler holds the state of one compilation.
type compiler struct {
	ctx  context.Context
	opts Options
	rgd  *v1alpha1.ResourceGraphDefinition
	errs errs
	// warnings are the problems that do not stop the graph (Graph.Warnings).
	warnings errs

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

func (c *compiler) compile() *Graph {
	c.pending = map[*Resource]*pendingResource{}
	// Without the instance schema nothing can be type-checked, but the
	// resources are still checked for what needs no types.
	c.compileSchema()
	serviceAccount := c.compileServiceAccount()
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
		Name:           c.rgd.Name,
		Instance:       c.instance,
		CRD:            crd,
		Resources:      ordered,
		ServiceAccount: serviceAccount,
		byID:           c.ids,
		env:            env,
	}
	return g
}
