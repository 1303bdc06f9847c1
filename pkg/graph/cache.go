package graph

import (
	"crypto/sha256"
	"encoding/binary"
	"reflect"
	"sync"

	"github.com/google/cel-go/common/types"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/utils/lru"

	"github.com/rgd-dev/rgd/pkg/celenv"
)

// Default bounds of a Cache.
const (
	// DefaultCacheExpressions bounds the parsed expressions a Cache keeps.
	DefaultCacheExpressions = 4096
	// DefaultCacheEnvironments bounds the typed CEL environments a Cache
	// keeps, each with the expressions checked in it, and the SimpleSchemas
	// and validated CRDs; templates are bounded to four times as many. An
	// environment costs about 170 KB (CartsStack's), shared with the
	// graphs compiled in it: the bound limits what stale entries of edited
	// RGDs hold to about 11 MB.
	DefaultCacheEnvironments = 64
	// checksPerEnvironment bounds the checked expressions kept per
	// environment; further ones are checked but not kept.
	checksPerEnvironment = 1024
)

// Cache keeps work that compilations share, so that recompiling an RGD (the
// controller does on every change of the RGD and of the CRDs it uses) or
// compiling RGDs that use the same expressions and kinds costs less:
//
//   - the OpenAPI form of an RGD's SimpleSchema and the instance schema
//     built from it, keyed by spec.schema.spec, spec.schema.types and the
//     scope (read-only: graphs may share their Instance.Schema);
//   - resource templates, decoded, keyed by their JSON, each with the
//     result of walking it against a kind's schema (the values that hold
//     expressions) when the walk found no problem; every compilation gets
//     its own copy of the object;
//   - which generated CRDs the API server's validation (the most costly
//     part of generating one) accepted, keyed by the RGD's name, its
//     spec.schema and the digest of the environment its status
//     expressions were typed in: all a CRD is made from. An identical CRD
//     is still built for every compilation, but not validated again;
//   - what the parse of an expression tells (its select chains, whether it
//     calls omit(), its syntax error), keyed by its text: parsing does not
//     depend on the declarations;
//   - typed CEL environments, keyed by a digest of every variable they
//     declare (name, shape and the complete schema it is typed from), each
//     with the expressions type-checked in it. An expression is reused only
//     in an environment whose declarations are identical, so its type, its
//     estimated cost and its errors are the ones a fresh check would give.
//
// Only compilations with the default CEL libraries (no Options.CELOptions)
// use it. A Cache is bounded (least recently used entries go first) and safe
// for concurrent use.
type Cache struct {
	parsed *bounded[string, exprInfo]
	envs   *bounded[envKey, *envEntry]
	crds   *bounded[crdKey, struct{}] // the validated ones
	// schemaSets holds the OpenAPI form of SimpleSchemas with the instance
	// schemas built from them.
	schemaSets *bounded[schemaKey, *instanceSchemas]
	templates  *bounded[templateKey, *templateEntry]
}

// bounded is a least-recently-used cache of V by K, safe for concurrent use.
type bounded[K comparable, V any] struct{ c *lru.Cache }

func newBounded[K comparable, V any](size int) *bounded[K, V] {
	return &bounded[K, V]{c: lru.New(size)}
}

func (b *bounded[K, V]) get(k K) (V, bool) {
	v, ok := b.c.Get(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

func (b *bounded[K, V]) add(k K, v V) { b.c.Add(k, v) }

// NewCache returns a Cache holding at most expressions parsed expressions
// and environments typed environments (and as many SimpleSchemas and
// validated CRDs, and four times as many templates); values below 1 take
// the defaults.
func NewCache(expressions, environments int) *Cache {
	if expressions < 1 {
		expressions = DefaultCacheExpressions
	}
	if environments < 1 {
		environments = DefaultCacheEnvironments
	}
	return &Cache{
		parsed:     newBounded[string, exprInfo](expressions),
		envs:       newBounded[envKey, *envEntry](environments),
		crds:       newBounded[crdKey, struct{}](environments),
		schemaSets: newBounded[schemaKey, *instanceSchemas](environments),
		templates:  newBounded[templateKey, *templateEntry](4 * environments),
	}
}

// DefaultCache is the Cache of compilations whose Options name none.
var DefaultCache = NewCache(DefaultCacheExpressions, DefaultCacheEnvironments)

// Len reports how many parsed expressions and environments the cache holds.
func (c *Cache) Len() (expressions, environments int) {
	return c.parsed.c.Len(), c.envs.c.Len()
}

// info returns what the parse of src tells (nil Cache: nothing).
func (c *Cache) info(src string) (exprInfo, bool) {
	if c == nil {
		return exprInfo{}, false
	}
	return c.parsed.get(src)
}

func (c *Cache) addInfo(src string, info exprInfo) {
	if c != nil {
		c.parsed.add(src, info)
	}
}

func (c *Cache) env(key envKey) *envEntry {
	e, _ := c.envs.get(key)
	return e
}

func (c *Cache) addEnv(key envKey, e *envEntry) { c.envs.add(key, e) }

// validated reports whether the CRD made from key passed the API server's
// validation before.
func (c *Cache) validated(key crdKey) bool {
	_, ok := c.crds.get(key)
	return ok
}

func (c *Cache) addValidated(key crdKey) { c.crds.add(key, struct{}{}) }

// templateKey digests a template's JSON.
type templateKey [sha256.Size]byte

// templateEntry is a template's decoded object (never handed out: see
// object) with its walks. The object is kept from the second compilation
// that decodes the template on, so that a first compilation pays no copy.
type templateEntry struct {
	mu    sync.Mutex
	seen  bool
	obj   map[string]any
	walks map[walkKey][]site
}

// walkKey is what a walk depends on besides the template. The schema is a
// resolver's (shared, read-only), kept alive by the key.
type walkKey struct {
	schema *spec.Schema
	crd    bool
	id     string
}

// template returns the entry of a template, new if need be; nil for a nil
// Cache.
func (c *Cache) template(raw []byte) *templateEntry {
	if c == nil {
		return nil
	}
	key := templateKey(sha256.Sum256(raw))
	if e, ok := c.templates.get(key); ok {
		return e
	}
	e := &templateEntry{}
	c.templates.add(key, e)
	return e
}

// object returns a copy of the decoded template for one compilation, or nil.
func (e *templateEntry) object() map[string]any {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	obj := e.obj
	e.mu.Unlock()
	if obj == nil {
		return nil
	}
	return runtime.DeepCopyJSON(obj)
}

// keep records a compilation's decoded template: a copy of it is kept when
// the template was decoded before.
func (e *templateEntry) keep(obj map[string]any) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.seen {
		e.seen = true
		return
	}
	if e.obj == nil {
		e.obj = runtime.DeepCopyJSON(obj)
	}
}

// walked returns the sites of an earlier walk (read-only).
func (e *templateEntry) walked(k walkKey) ([]site, bool) {
	if e == nil {
		return nil, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	sites, ok := e.walks[k]
	return sites, ok
}

func (e *templateEntry) addWalk(k walkKey, sites []site) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.walks == nil {
		e.walks = map[walkKey][]site{}
	}
	if len(e.walks) < checksPerEnvironment {
		e.walks[k] = sites
	}
}

// instanceSchemas are the schemas compileSchema derives from a SimpleSchema
// (read-only once cached).
type instanceSchemas struct {
	props    *extv1.JSONSchemaProps
	instance *spec.Schema
}

// schemaKey digests what instanceSchemas are made from.
type schemaKey [sha256.Size]byte

func instanceSchemaKey(specRaw, typesRaw []byte, namespaced bool) schemaKey {
	var key schemaKey
	h := sha256.New()
	var buf []byte
	for _, raw := range [][]byte{specRaw, typesRaw} {
		buf = binary.AppendUvarint(buf[:0], uint64(len(raw)))
		h.Write(buf)
		h.Write(raw)
	}
	if namespaced {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	h.Sum(key[:0])
	return key
}

func (c *Cache) schemas(key schemaKey) *instanceSchemas {
	s, _ := c.schemaSets.get(key)
	return s
}

func (c *Cache) addSchemas(key schemaKey, s *instanceSchemas) { c.schemaSets.add(key, s) }

// crdKey digests what a generated CRD is made from.
type crdKey [sha256.Size]byte

// envKey is the digest of an environment's declarations (see fingerprint).
type envKey [sha256.Size]byte

// envEntry is a typed environment with the expressions checked in it. The
// environment and the checked results are immutable; the map is guarded.
type envEntry struct {
	env *celenv.Env
	// pins are the schemas the key identifies by address.
	pins []*spec.Schema

	mu     sync.Mutex
	checks map[string]compileResult
}

func (e *envEntry) check(src string) (compileResult, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.checks[src]
	return r, ok
}

func (e *envEntry) addCheck(src string, r compileResult) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.checks == nil {
		e.checks = map[string]compileResult{}
	}
	if len(e.checks) < checksPerEnvironment {
		e.checks[src] = r
	}
}

// varSpec describes a variable before it is built: building one (preparing
// its schema and converting it to CEL types) is most of the cost of an
// environment, so the cache is looked up from these.
type varSpec struct {
	name string
	kind varKind
	// The variable is typed from the part of source that paths reach (see
	// pruneSchema); source is nil for dyn and list-of-dyn variables. The
	// pruned schema is a function of both, which identify it for the
	// cache: a resolver's schema by identity when pinned (resolvers share
	// schemas read-only; the cache entry keeps it alive so that no other
	// schema can take its address), otherwise (a schema the compilation
	// built) by the bytes sourceRaw it was built from.
	source    *spec.Schema
	pinned    bool
	sourceRaw [][]byte
	paths     [][]string
}

type varKind byte

const (
	varObject varKind = iota + 1
	varList
	varDyn
	varDynList
)

// fingerprint digests the declarations (see varSpec) and returns the
// schemas the key identifies by address.
func fingerprint(specs []varSpec) (key envKey, pins []*spec.Schema) {
	h := sha256.New()
	var buf []byte
	str := func(s string) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(s)))
		h.Write(buf)
		h.Write([]byte(s))
	}
	num := func(n uint64) {
		buf = binary.AppendUvarint(buf[:0], n)
		h.Write(buf)
	}
	for _, v := range specs {
		str(v.name)
		num(uint64(v.kind))
		if v.source == nil {
			continue
		}
		if v.pinned {
			num(1)
			num(uint64(reflect.ValueOf(v.source).Pointer()))
			pins = append(pins, v.source)
		} else {
			num(2)
		}
		num(uint64(len(v.sourceRaw)))
		for _, raw := range v.sourceRaw {
			num(uint64(len(raw)))
			h.Write(raw)
		}
		num(uint64(len(v.paths)))
		for _, p := range v.paths {
			num(uint64(len(p)))
			for _, seg := range p {
				str(seg)
			}
		}
	}
	h.Sum(key[:0])
	return key, pins
}

// build declares the variable, typed from pruned.
func (v varSpec) build(pruned *spec.Schema) celenv.Variable {
	switch v.kind {
	case varObject:
		return celenv.PrunedObjectVariable(v.name, pruned)
	case varList:
		return celenv.PrunedListVariable(v.name, pruned)
	case varDynList:
		return celenv.TypedVariable(v.name, types.NewListType(types.DynType))
	}
	return celenv.DynVariable(v.name)
}
