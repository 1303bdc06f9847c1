package graph

import "reflect"

// statusReads is what the graph's expressions read of a resource's status:
// the paths below status, with everything under each; all means the whole
// status (or the whole object) is read.
type statusReads struct {
	all   bool
	paths [][]string
}

// readsOfStatus derives statusReads from the select chains of a resource.
func readsOfStatus(paths [][]string) statusReads {
	var r statusReads
	for _, p := range paths {
		switch {
		case len(p) == 0, len(p) == 1 && p[0] == "status":
			return statusReads{all: true}
		case p[0] == "status":
			r.paths = append(r.paths, p[1:])
		}
	}
	return r
}

// SeesChange reports whether an update of one of the resource's objects,
// from old to cur, can change anything rgd computes from it: the values of
// the graph's expressions, readiness, and the comparison of the object with
// its template. Everything counts except metadata.resourceVersion,
// metadata.managedFields and the parts of status that no expression reads,
// which is what controllers keep rewriting (a Deployment's conditions and
// replica counts while its pods come and go).
//
// The expressions read no more of the status than the chains the compiler
// typed them from (a resource's CEL type is pruned to those chains, so an
// expression reaching further does not compile).
func (r *Resource) SeesChange(old, cur map[string]any) bool {
	if len(old) != len(cur) {
		return true
	}
	for k, cv := range cur {
		ov, ok := old[k]
		if !ok {
			return true
		}
		switch k {
		case "metadata":
			if metadataChanged(ov, cv) {
				return true
			}
		case "status":
			if r.statusReads.all {
				if !equalValues(ov, cv) {
					return true
				}
				continue
			}
			for _, p := range r.statusReads.paths {
				if !equalValues(valueAt(ov, p), valueAt(cv, p)) {
					return true
				}
			}
		default:
			if !equalValues(ov, cv) {
				return true
			}
		}
	}
	return false
}

// metadataChanged compares two metadata maps, ignoring resourceVersion and
// managedFields.
func metadataChanged(old, cur any) bool {
	om, ok1 := old.(map[string]any)
	cm, ok2 := cur.(map[string]any)
	if !ok1 || !ok2 {
		return !equalValues(old, cur)
	}
	ignored := func(k string) bool { return k == "resourceVersion" || k == "managedFields" }
	for k, cv := range cm {
		if ignored(k) {
			continue
		}
		if ov, ok := om[k]; !ok || !equalValues(ov, cv) {
			return true
		}
	}
	for k := range om {
		if _, ok := cm[k]; !ok && !ignored(k) {
			return true
		}
	}
	return false
}

// valueAt returns the value at path p below v, or nil when there is none.
func valueAt(v any, p []string) any {
	for _, k := range p {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// equalValues compares two JSON values as decoded into unstructured form.
func equalValues(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !equalValues(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !equalValues(av[i], bv[i]) {
				return false
			}
		}
		return true
	case string, bool, int64, float64, nil:
		return a == b
	default:
		return equalOther(a, b)
	}
}

// equalOther compares values of other types (numbers decoded as int or
// json.Number by other decoders).
func equalOther(a, b any) bool { return reflect.DeepEqual(a, b) }

// UsedFields returns the paths of the resource's objects that rgd uses, so
// that a cache of them may drop the rest: every field the template sets,
// every chain the expressions read (with everything below the end of each),
// and apiVersion, kind and metadata. A path goes through lists without a
// segment of its own: it applies to every item. nil means the whole object
// (an expression reads the object itself, or the resource is an external
// reference, which other graphs read in full).
func (r *Resource) UsedFields() [][]string {
	if r.External {
		return nil
	}
	paths := [][]string{{"apiVersion"}, {"kind"}, {"metadata"}}
	for _, p := range r.reads {
		if len(p) == 0 {
			return nil
		}
		paths = append(paths, p)
	}
	var walk func(prefix []string, v any)
	walk = func(prefix []string, v any) {
		switch t := v.(type) {
		case map[string]any:
			if len(t) == 0 {
				paths = append(paths, prefix)
				return
			}
			for k, x := range t {
				walk(append(prefix[:len(prefix):len(prefix)], k), x)
			}
		case []any:
			if len(t) == 0 {
				paths = append(paths, prefix)
				return
			}
			for _, x := range t {
				walk(prefix, x)
			}
		default:
			paths = append(paths, prefix)
		}
	}
	for k, v := range r.Template {
		if k == "apiVersion" || k == "kind" || k == "metadata" {
			continue
		}
		walk([]string{k}, v)
	}
	return paths
}
