package graph

import (
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

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
				if !reflect.DeepEqual(ov, cv) {
					return true
				}
				continue
			}
			oldStatus, _ := ov.(map[string]any)
			curStatus, _ := cv.(map[string]any)
			for _, p := range r.statusReads.paths {
				o, _, _ := unstructured.NestedFieldNoCopy(oldStatus, p...)
				c, _, _ := unstructured.NestedFieldNoCopy(curStatus, p...)
				if !reflect.DeepEqual(o, c) {
					return true
				}
			}
		default:
			if !reflect.DeepEqual(ov, cv) {
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
		return !reflect.DeepEqual(old, cur)
	}
	ignored := func(k string) bool { return k == "resourceVersion" || k == "managedFields" }
	for k, cv := range cm {
		if ignored(k) {
			continue
		}
		if ov, ok := om[k]; !ok || !reflect.DeepEqual(ov, cv) {
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
