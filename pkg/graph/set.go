package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/crdgen"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// SetResult is the outcome of one RGD of CompileSet.
type SetResult struct {
	// Graph is the compiled graph; nil when Err is set.
	Graph *Graph
	// Err is an ErrorList when the RGD is invalid (another error when it
	// could not be compiled at all).
	Err error
}

// CompileSet compiles RGDs that may build on each other: an RGD whose
// resources create or read the kind that another RGD of the set defines is
// compiled after that RGD, with its generated CRD as the schema of the kind,
// whatever the order of rgds. The kinds the set defines come before
// opts.Resolver, which is required. The results are in the order of rgds.
//
// Problems between RGDs are errors of the RGD concerned, with the field that
// names the kind: RGDs that use each other's kinds in a cycle (every RGD of
// the cycle, naming the others), a kind that several RGDs define (each of
// them, and each RGD using the kind), and a kind whose RGD is invalid. An RGD
// of a cycle, or one using a kind of the set that has no valid definition, is
// still compiled, with that kind schemaless, so that its own problems are
// found too.
func CompileSet(ctx context.Context, rgds []*v1alpha1.ResourceGraphDefinition, opts Options) []SetResult {
	out := make([]SetResult, len(rgds))
	if opts.Resolver == nil {
		for i := range out {
			out[i].Err = errors.New("graph.CompileSet needs a schema resolver")
		}
		return out
	}
	s := newRGDSet(rgds)
	defined := setResolver{}
	for _, m := range s.members {
		if m.duplicate {
			defined.addPlaceholder(m)
		}
	}
	opts.Resolver = schemas.Chain(defined, opts.Resolver)
	for _, comp := range s.components() {
		cyclic := len(comp) > 1 || slices.Contains(s.members[comp[0]].deps, comp[0])
		for _, i := range comp {
			if cyclic {
				defined.addPlaceholder(s.members[i])
			}
		}
		for _, i := range comp {
			m := s.members[i]
			m.blame(s, i, out, comp, cyclic)
			out[i] = m.compile(ctx, opts)
			if !m.definesKind() || cyclic {
				continue
			}
			if out[i].Err != nil || defined.addCRD(out[i].Graph) != nil {
				defined.addPlaceholder(m)
			}
		}
	}
	return out
}

// rgdSet is the RGDs of a CompileSet and the kinds they define and use.
type rgdSet struct {
	members []*setMember
	// definers are the indexes of the RGDs that define each kind; a kind
	// with several is served by none of them.
	definers map[schema.GroupVersionKind][]int
}

// setMember is one RGD of a set.
type setMember struct {
	rgd *v1alpha1.ResourceGraphDefinition
	// kind is the kind the RGD defines; empty when spec.schema does not say.
	kind schema.GroupVersionKind
	// duplicate is true when another RGD of the set defines kind too.
	duplicate bool
	// uses are the kinds of the set that the RGD's resources name.
	uses []kindUse
	// deps are the indexes of the RGDs whose kinds it uses, sorted, unique.
	deps []int
	// errs are the problems between this RGD and the others.
	errs ErrorList
}

// kindUse is a resource naming a kind that one RGD of the set defines.
type kindUse struct {
	gvk        schema.GroupVersionKind
	resourceID string
	field      string // spec.resources[i].template.kind or ...externalRef.kind
	definer    int
}

func newRGDSet(rgds []*v1alpha1.ResourceGraphDefinition) *rgdSet {
	s := &rgdSet{definers: map[schema.GroupVersionKind][]int{}}
	for i, rgd := range rgds {
		m := &setMember{rgd: rgd, kind: definedKind(rgd)}
		s.members = append(s.members, m)
		if !m.kind.Empty() {
			s.definers[m.kind] = append(s.definers[m.kind], i)
		}
	}
	for _, m := range s.members {
		if d := s.definers[m.kind]; len(d) > 1 {
			m.duplicate = true
			m.addError("", "spec.schema.kind", "kind %s of apiVersion %s is defined by several RGDs: %s",
				m.kind.Kind, m.kind.GroupVersion(), s.names(d))
		}
	}
	for _, m := range s.members {
		for _, u := range usedKinds(m.rgd) {
			switch d := s.definers[u.gvk]; {
			case len(d) > 1:
				m.addError(u.resourceID, u.field, "kind %s of apiVersion %s is defined by several RGDs: %s; its fields are not checked here",
					u.gvk.Kind, u.gvk.GroupVersion(), s.names(d))
			case len(d) == 1:
				u.definer = d[0]
				m.uses = append(m.uses, u)
				if !slices.Contains(m.deps, d[0]) {
					m.deps = append(m.deps, d[0])
				}
			}
		}
		slices.Sort(m.deps)
	}
	return s
}

// names lists the names of RGDs of the set, sorted, quoted.
func (s *rgdSet) names(indexes []int) string {
	var names []string
	for _, i := range indexes {
		names = append(names, fmt.Sprintf("%q", s.members[i].rgd.Name))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// definedKind is the kind an RGD's spec.schema defines, with the group
// defaulted as in the generated CRD.
func definedKind(rgd *v1alpha1.ResourceGraphDefinition) schema.GroupVersionKind {
	if rgd == nil || rgd.Spec.Schema == nil || rgd.Spec.Schema.Kind == "" || rgd.Spec.Schema.APIVersion == "" {
		return schema.GroupVersionKind{}
	}
	group := rgd.Spec.Schema.Group
	if group == "" {
		group = crdgen.DefaultGroup
	}
	return schema.GroupVersionKind{Group: group, Version: rgd.Spec.Schema.APIVersion, Kind: rgd.Spec.Schema.Kind}
}

// usedKinds lists the kinds an RGD's templates and external references name
// with literal strings (a kind or apiVersion in ${...} names none).
func usedKinds(rgd *v1alpha1.ResourceGraphDefinition) []kindUse {
	if rgd == nil {
		return nil
	}
	var out []kindUse
	for i, r := range rgd.Spec.Resources {
		if r == nil {
			continue
		}
		var typeMeta struct {
			APIVersion any `json:"apiVersion"`
			Kind       any `json:"kind"`
		}
		field := fmt.Sprintf("spec.resources[%d].template", i)
		switch {
		case r.Template != nil:
			if json.Unmarshal(r.Template.Raw, &typeMeta) != nil {
				continue
			}
		case r.ExternalRef != nil:
			typeMeta.APIVersion, typeMeta.Kind = r.ExternalRef.APIVersion, r.ExternalRef.Kind
			field = fmt.Sprintf("spec.resources[%d].externalRef", i)
		}
		apiVersion, _ := typeMeta.APIVersion.(string)
		kind, _ := typeMeta.Kind.(string)
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil || kind == "" || strings.Contains(apiVersion+kind, "${") {
			continue
		}
		out = append(out, kindUse{gvk: gv.WithKind(kind), resourceID: r.ID, field: field + ".kind"})
	}
	return out
}

func (m *setMember) definesKind() bool { return !m.kind.Empty() && !m.duplicate }

func (m *setMember) addError(resourceID, field, format string, args ...any) {
	name := ""
	if m.rgd != nil {
		name = m.rgd.Name
	}
	m.errs = append(m.errs, &Error{RGD: name, ResourceID: resourceID, Field: field, Message: fmt.Sprintf(format, args...)})
}

// blame records the problems of the kinds m (the member at index self) uses
// from RGDs of the set: its own kind, a cycle through comp (when cyclic), or
// an RGD that did not compile (out holds the results so far).
func (m *setMember) blame(s *rgdSet, self int, out []SetResult, comp []int, cyclic bool) {
	for _, u := range m.uses {
		kind, from := u.gvk.Kind, s.members[u.definer].rgd.Name
		switch {
		case u.definer == self:
			m.addError(u.resourceID, u.field, "kind %s of apiVersion %s is the kind this RGD defines: an RGD cannot build on its own kind",
				kind, u.gvk.GroupVersion())
		case cyclic && slices.Contains(comp, u.definer):
			m.addError(u.resourceID, u.field, "kind %s of apiVersion %s is defined by rgd %q, and the RGDs build on each other's kinds in a cycle: %s",
				kind, u.gvk.GroupVersion(), from, s.cycleThrough(self, u.definer))
		case out[u.definer].Err != nil:
			m.addError(u.resourceID, u.field, "kind %s of apiVersion %s is defined by rgd %q, which is invalid; its fields are not checked here",
				kind, u.gvk.GroupVersion(), from)
		}
	}
}

// cycleThrough names the RGDs of a shortest cycle from 'from' through its
// dependency 'to': "a -> b -> a".
func (s *rgdSet) cycleThrough(from, to int) string {
	prev := map[int]int{to: -1}
	queue := []int{to}
	for len(queue) > 0 && !hasKey(prev, from) {
		v := queue[0]
		queue = queue[1:]
		for _, w := range s.members[v].deps {
			if !hasKey(prev, w) {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	names := []string{s.members[from].rgd.Name}
	var back []string
	for v := from; v != -1 && hasKey(prev, v); v = prev[v] {
		back = append(back, s.members[v].rgd.Name)
	}
	// back runs from 'from' to 'to' along prev links: reverse it.
	slices.Reverse(back)
	names = append(names, back...)
	return strings.Join(names, " -> ")
}

func hasKey(m map[int]int, k int) bool {
	_, ok := m[k]
	return ok
}

// compile compiles m and adds the problems between RGDs to its errors.
func (m *setMember) compile(ctx context.Context, opts Options) SetResult {
	g, err := Compile(ctx, m.rgd, opts)
	var list ErrorList
	switch {
	case err != nil && !errors.As(err, &list):
		return SetResult{Err: err}
	case len(m.errs) == 0 && err == nil:
		return SetResult{Graph: g}
	}
	return SetResult{Err: append(slices.Clone(m.errs), list...).sorted()}
}

// components returns the strongly connected components of the set's
// dependencies (Tarjan's algorithm), each sorted, a component after every
// component it depends on.
func (s *rgdSet) components() [][]int {
	n := len(s.members)
	index, low := make([]int, n), make([]int, n) // index 0: not visited
	onStack := make([]bool, n)
	var stack []int
	var out [][]int
	next := 1
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range s.members[v].deps {
			if index[w] == 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var comp []int
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			comp = append(comp, w)
			if w == v {
				break
			}
		}
		slices.Sort(comp)
		out = append(out, comp)
	}
	for v := range n {
		if index[v] == 0 {
			visit(v)
		}
	}
	return out
}

// setResolver answers the kinds the RGDs of a set define.
type setResolver map[schema.GroupVersionKind]*schemas.Resolved

// Resolve implements schemas.Resolver.
func (r setResolver) Resolve(_ context.Context, gvk schema.GroupVersionKind) (*schemas.Resolved, error) {
	if res, ok := r[gvk]; ok {
		return res, nil
	}
	return nil, fmt.Errorf("kind %s of the set: %w", gvk, schemas.ErrNotFound)
}

// addCRD serves the kind of a compiled graph from its generated CRD, as the
// API server will.
func (r setResolver) addCRD(g *Graph) error {
	crds, err := schemas.FromCRDs(g.CRD)
	if err != nil {
		return err
	}
	res, err := crds.Resolve(context.Background(), g.Instance.GVK)
	if err != nil {
		return err
	}
	r[g.Instance.GVK] = res
	return nil
}

// addPlaceholder serves the kind of an RGD that did not compile as
// schemaless, so that the RGDs using it are still checked.
func (r setResolver) addPlaceholder(m *setMember) {
	if m.kind.Empty() {
		return
	}
	r[m.kind] = &schemas.Resolved{
		GVK:        m.kind,
		Resource:   m.kind.GroupVersion().WithResource(crdgen.Plural(m.kind.Kind)),
		Namespaced: m.rgd.Spec.Schema.Scope != v1alpha1.ResourceScopeCluster,
	}
}
