package watch

import "slices"

// fieldTree is a set of paths into objects: a node keeps the fields named
// by its children, each pruned by its own node, and everything under a
// node marked all. Lists are transparent: a node applies to every item.
// A nil *fieldTree keeps everything. metadata.managedFields is dropped
// whatever the tree, unless its root says to keep it.
type fieldTree struct {
	all      bool
	children map[string]*fieldTree
	// managedFields, on the root, keeps metadata.managedFields.
	managedFields bool
}

// ManagedFields is the path that, among the fields of WatchFields, keeps
// metadata.managedFields, which informers drop otherwise. The empty path
// stands for every field: {{}, ManagedFields()} keeps everything.
func ManagedFields() []string { return []string{"metadata", "managedFields"} }

// newFieldTree builds the tree of paths, always keeping apiVersion, kind
// and metadata. nil paths give nil: everything.
func newFieldTree(paths [][]string) *fieldTree {
	if paths == nil {
		return nil
	}
	t := &fieldTree{}
	for _, p := range append([][]string{{"apiVersion"}, {"kind"}, {"metadata"}}, paths...) {
		if slices.Equal(p, ManagedFields()) {
			t.managedFields = true
			continue
		}
		t.add(p)
	}
	return t
}

// keepsManagedFields reports whether t keeps metadata.managedFields.
func (t *fieldTree) keepsManagedFields() bool { return t != nil && t.managedFields }

func (t *fieldTree) add(p []string) {
	for _, k := range p {
		if t.all {
			return
		}
		if t.children == nil {
			t.children = map[string]*fieldTree{}
		}
		next := t.children[k]
		if next == nil {
			next = &fieldTree{}
			t.children[k] = next
		}
		t = next
	}
	t.all, t.children = true, nil
}

// union returns a tree keeping what a or b keeps.
func union(a, b *fieldTree) *fieldTree {
	managed := a.keepsManagedFields() || b.keepsManagedFields()
	switch {
	case (a == nil || b == nil) && !managed:
		return nil
	case a == nil || b == nil || a.all || b.all:
		return &fieldTree{all: true, managedFields: managed}
	}
	out := &fieldTree{children: map[string]*fieldTree{}, managedFields: managed}
	for k, c := range a.children {
		out.children[k] = c
	}
	for k, c := range b.children {
		if prev, ok := out.children[k]; ok {
			out.children[k] = union(prev, c)
		} else {
			out.children[k] = c
		}
	}
	return out
}

// covers reports whether t keeps everything o keeps.
func (t *fieldTree) covers(o *fieldTree) bool {
	if o.keepsManagedFields() && !t.keepsManagedFields() {
		return false
	}
	if t == nil || t.all {
		return true
	}
	if o == nil || o.all {
		return false
	}
	for k, oc := range o.children {
		tc, ok := t.children[k]
		if !ok || !tc.covers(oc) {
			return false
		}
	}
	return true
}

// prune removes from v, in place, what t does not keep.
func (t *fieldTree) prune(v any) {
	if t == nil || t.all {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			child, ok := t.children[k]
			if !ok {
				delete(x, k)
				continue
			}
			child.prune(c)
		}
	case []any:
		for _, item := range x {
			t.prune(item)
		}
	}
}
