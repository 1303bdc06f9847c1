package render

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rgd-dev/rgd/pkg/celenv"
	"github.com/rgd-dev/rgd/pkg/cellib"
	"github.com/rgd-dev/rgd/pkg/graph"
)

// DefaultMaxCollectionSize caps the number of objects one forEach produces.
const DefaultMaxCollectionSize = 1000

// Pending is a value that cannot be computed yet because an input is not
// there.
type Pending struct {
	// Resource is the id of the resource whose value is pending, or empty
	// for the instance status.
	Resource string
	// Field is the path of the pending value in the object.
	Field string
	// Expression is the expression that could not be evaluated.
	Expression string
	// Reason is the evaluation error, e.g. "no such key: status".
	Reason string
}

// String describes the pending value in one line.
func (p Pending) String() string {
	where := p.Field
	if p.Resource != "" {
		where = p.Resource + " " + p.Field
	}
	return fmt.Sprintf("%s waits for ${%s}: %s", where, p.Expression, p.Reason)
}

// Inputs are the values expressions read: the instance (as `schema`) and the
// observed objects of resources (a map for a single resource, a list for a
// collection).
type Inputs struct {
	graph    *graph.Graph
	raw      map[string]any
	act      map[string]any
	instance map[string]any
	observe  Observer
}

// Observer is told the duration of every CEL evaluation (the engine feeds a
// Prometheus histogram with it). It must be safe for concurrent use.
type Observer func(time.Duration)

// ObserveEvaluations makes every evaluation with these inputs report its
// duration to fn (nil: none), and returns in.
func (in *Inputs) ObserveEvaluations(fn Observer) *Inputs {
	in.observe = fn
	return in
}

// NewInputs prepares the inputs of one evaluation pass. instance is the
// instance object; its status is not visible to expressions.
func NewInputs(g *graph.Graph, instance map[string]any, observed map[string]any) *Inputs {
	inst := make(map[string]any, len(instance))
	for k, v := range instance {
		if k != "status" {
			inst[k] = v
		}
	}
	raw := make(map[string]any, len(observed)+1)
	for k, v := range observed {
		raw[k] = v
	}
	raw["schema"] = inst
	return &Inputs{graph: g, raw: raw, act: g.Activation(raw), instance: inst}
}

// Set records the observed state of a resource.
func (in *Inputs) Set(id string, observed any) {
	in.raw[id] = observed
	converted := in.graph.Activation(map[string]any{id: observed})
	in.act[id] = converted[id]
}

// Has reports whether a resource's observed state is known.
func (in *Inputs) Has(id string) bool {
	_, ok := in.raw[id]
	return ok
}

// Result is the rendering of one resource.
type Result struct {
	// Included is false when an includeWhen expression is false.
	Included bool
	// Objects are the rendered objects: one for a plain resource, one per
	// element for a forEach collection, the reference (name, namespace or
	// selector filled in) for an externalRef.
	Objects []map[string]any
	// Pending lists values that could not be computed yet; Objects is then
	// incomplete.
	Pending []Pending
}

// Options tune rendering.
type Options struct {
	// MaxCollectionSize caps a forEach expansion; 0 means
	// DefaultMaxCollectionSize.
	MaxCollectionSize int
}

// Resource renders one resource of the graph for an instance. namespace is
// the instance's namespace, used for namespaced objects that name none.
func Resource(r *graph.Resource, in *Inputs, namespace string, opts Options) (*Result, error) {
	res := &Result{Included: true}
	for _, e := range r.IncludeWhen {
		v, err := in.observe.value(e, in.act)
		if err != nil {
			if celenv.IsDataPending(err) {
				res.Pending = append(res.Pending, Pending{Resource: r.ID, Field: "includeWhen", Expression: e.Source, Reason: err.Error()})
				continue
			}
			return nil, fmt.Errorf("resource %q: includeWhen ${%s}: %w", r.ID, e.Source, err)
		}
		if b, ok := v.(bool); !ok || !b {
			res.Included = false
			return res, nil
		}
	}
	if len(res.Pending) > 0 {
		return res, nil
	}

	combos := []map[string]any{nil}
	if len(r.ForEach) > 0 {
		var err error
		combos, err = expand(r, in, opts, res)
		if err != nil || len(res.Pending) > 0 {
			return res, err
		}
	}
	for _, iter := range combos {
		act := in.act
		if iter != nil {
			act = make(map[string]any, len(in.act)+len(iter))
			for k, v := range in.act {
				act[k] = v
			}
			for k, v := range iter {
				act[k] = v
			}
		}
		obj := runtime.DeepCopyJSON(r.Template)
		for _, f := range r.Fields {
			if err := fill(obj, f, act, r.ID, res, in.observe); err != nil {
				return nil, err
			}
		}
		if md, _ := obj["metadata"].(map[string]any); md != nil && r.Namespaced {
			// A namespaced object without a namespace lives in the
			// instance's; an external selector without one looks in all.
			_, isSelector := md["selector"]
			if ns, _ := md["namespace"].(string); ns == "" && namespace != "" && !isSelector {
				md["namespace"] = namespace
			}
		}
		res.Objects = append(res.Objects, obj)
	}
	return res, nil
}

// expand evaluates the forEach dimensions and returns one iterator binding
// per element of their cartesian product, the first dimension outermost.
func expand(r *graph.Resource, in *Inputs, opts Options, res *Result) ([]map[string]any, error) {
	limit := opts.MaxCollectionSize
	if limit <= 0 {
		limit = DefaultMaxCollectionSize
	}
	lists := make([][]any, len(r.ForEach))
	for i, d := range r.ForEach {
		v, err := in.observe.value(d.Expression, in.act)
		if err != nil {
			if celenv.IsDataPending(err) {
				res.Pending = append(res.Pending, Pending{Resource: r.ID, Field: "forEach." + d.Name, Expression: d.Expression.Source, Reason: err.Error()})
				continue
			}
			return nil, fmt.Errorf("resource %q: forEach %s ${%s}: %w", r.ID, d.Name, d.Expression.Source, err)
		}
		list, ok := v.([]any)
		if v != nil && !ok {
			return nil, fmt.Errorf("resource %q: forEach %s ${%s} returned %T, expected a list", r.ID, d.Name, d.Expression.Source, v)
		}
		lists[i] = list
	}
	if len(res.Pending) > 0 {
		return nil, nil
	}
	total := 1
	for _, l := range lists {
		total *= len(l)
		if total > limit {
			return nil, fmt.Errorf("resource %q: forEach produces more than %d objects", r.ID, limit)
		}
	}
	if total == 0 {
		return []map[string]any{}, nil
	}
	combos := make([]map[string]any, 0, total)
	var walk func(i int, cur map[string]any)
	walk = func(i int, cur map[string]any) {
		if i == len(lists) {
			c := make(map[string]any, len(cur))
			for k, v := range cur {
				c[k] = v
			}
			combos = append(combos, c)
			return
		}
		for _, item := range lists[i] {
			cur[r.ForEach[i].Name] = item
			walk(i+1, cur)
		}
	}
	walk(0, map[string]any{})
	return combos, nil
}

// fill evaluates one field and writes it into obj.
func fill(obj map[string]any, f *graph.Field, act map[string]any, id string, res *Result, obs Observer) error {
	if f.Standalone {
		e := f.Parts[0].Expression
		out, err := obs.eval(e, act)
		if err != nil {
			if celenv.IsDataPending(err) {
				res.Pending = append(res.Pending, Pending{Resource: id, Field: f.Path.String(), Expression: e.Source, Reason: err.Error()})
				return nil
			}
			return fmt.Errorf("resource %q: %s: ${%s}: %w", id, f.Path, e.Source, err)
		}
		if cellib.IsOmit(out) {
			removeAt(obj, f.Path)
			return nil
		}
		v, err := celenv.ToNative(out)
		if err != nil {
			return fmt.Errorf("resource %q: %s: ${%s}: %w", id, f.Path, e.Source, err)
		}
		setAt(obj, f.Path, v)
		return nil
	}
	var b strings.Builder
	for _, p := range f.Parts {
		if p.Expression == nil {
			b.WriteString(p.Literal)
			continue
		}
		v, err := obs.value(p.Expression, act)
		if err != nil {
			if celenv.IsDataPending(err) {
				res.Pending = append(res.Pending, Pending{Resource: id, Field: f.Path.String(), Expression: p.Expression.Source, Reason: err.Error()})
				return nil
			}
			return fmt.Errorf("resource %q: %s: ${%s}: %w", id, f.Path, p.Expression.Source, err)
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("resource %q: %s: ${%s} returned %T, expected a string", id, f.Path, p.Expression.Source, v)
		}
		b.WriteString(s)
	}
	setAt(obj, f.Path, b.String())
	return nil
}

// eval runs an expression and returns CEL's value, telling obs (when not
// nil) how long it took.
func (obs Observer) eval(e *graph.Expression, act map[string]any) (ref.Val, error) {
	prg, err := e.Program()
	if err != nil {
		return nil, err
	}
	var start time.Time
	if obs != nil {
		start = time.Now()
	}
	out, _, err := prg.Eval(act)
	if obs != nil {
		obs(time.Since(start))
	}
	if err != nil {
		return nil, celenv.EvalError(err)
	}
	if types.IsError(out) {
		return nil, out.(*types.Err)
	}
	return out, nil
}

// value runs an expression and returns plain Go data.
func (obs Observer) value(e *graph.Expression, act map[string]any) (any, error) {
	out, err := obs.eval(e, act)
	if err != nil {
		return nil, err
	}
	return celenv.ToNative(out)
}

// setAt writes v at p inside obj; the path exists in the template.
func setAt(obj map[string]any, p graph.Path, v any) {
	var cur any = obj
	for i, e := range p {
		last := i == len(p)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[e.Key] = v
				return
			}
			cur = c[e.Key]
		case []any:
			if e.Index < 0 || e.Index >= len(c) {
				return
			}
			if last {
				c[e.Index] = v
				return
			}
			cur = c[e.Index]
		default:
			return
		}
	}
}

// removeAt deletes the value at p (omit()): a map key is removed, a list
// element is cut out of its list.
func removeAt(obj map[string]any, p graph.Path) {
	if len(p) == 0 {
		return
	}
	removeIn(obj, p)
}

// removeIn removes p from v and returns v, or the shortened list.
func removeIn(v any, p graph.Path) any {
	e := p[0]
	switch c := v.(type) {
	case map[string]any:
		if len(p) == 1 {
			delete(c, e.Key)
		} else if child, ok := c[e.Key]; ok {
			c[e.Key] = removeIn(child, p[1:])
		}
		return c
	case []any:
		if e.Index < 0 || e.Index >= len(c) {
			return c
		}
		if len(p) == 1 {
			return append(c[:e.Index:e.Index], c[e.Index+1:]...)
		}
		c[e.Index] = removeIn(c[e.Index], p[1:])
		return c
	}
	return v
}

// Ready evaluates a resource's readyWhen against its observed object (or
// each item of an observed collection). A resource without readyWhen is ready
// once observed. The reason names the first expression that is not true.
func Ready(r *graph.Resource, observed any) (bool, string, error) {
	return ready(r, observed, nil)
}

// Ready is the function Ready, its evaluations observed like the inputs'.
func (in *Inputs) Ready(r *graph.Resource, observed any) (bool, string, error) {
	return ready(r, observed, in.observe)
}

func ready(r *graph.Resource, observed any, obs Observer) (bool, string, error) {
	if observed == nil {
		return false, "not observed yet", nil
	}
	if len(r.ReadyWhen) == 0 {
		return true, "", nil
	}
	if r.IsCollection() {
		items, _ := observed.([]any)
		for i, item := range items {
			ok, reason, err := readyOne(r, "each", item, obs)
			if err != nil || !ok {
				return ok, fmt.Sprintf("item %d: %s", i, reason), err
			}
		}
		return true, "", nil
	}
	return readyOne(r, r.ID, observed, obs)
}

func readyOne(r *graph.Resource, name string, obj any, obs Observer) (bool, string, error) {
	act := r.ReadyActivation(map[string]any{name: obj})
	for _, e := range r.ReadyWhen {
		v, err := obs.value(e, act)
		if err != nil {
			if celenv.IsDataPending(err) {
				return false, fmt.Sprintf("${%s} waits: %v", e.Source, err), nil
			}
			return false, "", fmt.Errorf("resource %q: readyWhen ${%s}: %w", r.ID, e.Source, err)
		}
		if b, ok := v.(bool); !ok || !b {
			return false, fmt.Sprintf("${%s} is false", e.Source), nil
		}
	}
	return true, "", nil
}

// Status projects the instance status from the graph's status expressions.
// Fields whose inputs are not there yet are left out and reported as
// pending.
func Status(g *graph.Graph, in *Inputs) (map[string]any, []Pending, error) {
	out := map[string]any{}
	var pending []Pending
	res := &Result{}
	var errs []error
	for _, f := range g.Instance.Status {
		res.Pending = nil
		if err := fillStatus(out, f, in.act, res, in.observe); err != nil {
			errs = append(errs, err)
		}
		pending = append(pending, res.Pending...)
	}
	return out, pending, errors.Join(errs...)
}

func fillStatus(out map[string]any, f *graph.Field, act map[string]any, res *Result, obs Observer) error {
	// Build the intermediate objects of the path, then reuse fill.
	cur := out
	for _, e := range f.Path[:len(f.Path)-1] {
		next, ok := cur[e.Key].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[e.Key] = next
		}
		cur = next
	}
	before := len(res.Pending)
	if err := fill(out, f, act, "", res, obs); err != nil {
		return err
	}
	if len(res.Pending) > before {
		prune(out)
	}
	return nil
}

// prune removes empty objects left by pending status fields.
func prune(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			prune(sub)
			if len(sub) == 0 {
				delete(m, k)
			}
		}
	}
}

// Conditions evaluates the author's status.conditions: each expression gives
// a condition or a list of them. Expressions whose inputs are not there yet
// are reported as pending.
func Conditions(g *graph.Graph, in *Inputs) ([]map[string]any, []Pending, error) {
	var out []map[string]any
	var pending []Pending
	var errs []error
	for _, e := range g.Instance.Conditions {
		v, err := in.observe.value(e, in.act)
		if err != nil {
			if celenv.IsDataPending(err) {
				pending = append(pending, Pending{Field: "conditions", Expression: e.Source, Reason: err.Error()})
				continue
			}
			errs = append(errs, fmt.Errorf("status.conditions ${%s}: %w", e.Source, err))
			continue
		}
		items, isList := v.([]any)
		if !isList {
			items = []any{v}
		}
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("status.conditions ${%s} returned %T, expected a condition", e.Source, it))
				continue
			}
			out = append(out, m)
		}
	}
	return out, pending, errors.Join(errs...)
}

// Rendering is one resource of an offline rendering.
type Rendering struct {
	// Resource is the compiled resource.
	Resource *graph.Resource
	// Result is what rendering it gave; nil when Err is set.
	Result *Result
	// Err is a rendering error of this resource.
	Err error
}

// Offline renders every resource of the graph in topological order without
// a cluster: each rendered child (not an external reference) stands in for
// its live state in the resources after it. What needs anything else (a
// status, an external object) stays pending.
func Offline(g *graph.Graph, in *Inputs, namespace string, opts Options) []Rendering {
	out := make([]Rendering, 0, len(g.Resources))
	for _, r := range g.Resources {
		res, err := Resource(r, in, namespace, opts)
		out = append(out, Rendering{Resource: r, Result: res, Err: err})
		if err != nil || r.External || !res.Included || len(res.Pending) > 0 {
			continue
		}
		if r.IsCollection() {
			items := make([]any, len(res.Objects))
			for i, o := range res.Objects {
				items[i] = o
			}
			in.Set(r.ID, items)
		} else if len(res.Objects) == 1 {
			in.Set(r.ID, res.Objects[0])
		}
	}
	return out
}
