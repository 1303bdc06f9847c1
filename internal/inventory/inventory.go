package inventory

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// Entry is one child recorded in an instance's inventory.
type Entry struct {
	// APIVersion and Kind of the child.
	APIVersion string `json:"v"`
	Kind       string `json:"k"`
	// Resource is the REST resource, so deletion needs no discovery.
	Resource string `json:"r"`
	// Namespace and Name of the child.
	Namespace string `json:"ns,omitempty"`
	Name      string `json:"n"`
	// Node is the id of the graph resource that produced the child.
	Node string `json:"id"`
	// Wave is the deletion order: higher waves are deleted first.
	Wave int `json:"w"`
	// Orphan is true when rgd must leave the child in place, released,
	// instead of deleting it (its resource's deletionPolicy). It is
	// recorded before the child is written with that policy, so that
	// deleting an instance, which reads only the inventory, never deletes
	// a child meant to be left, even after a crash.
	Orphan bool `json:"o,omitempty"`
	// SA is the ServiceAccount (NAMESPACE/NAME) the child is written with,
	// through impersonation; "" for the engine's own identity. Pruning,
	// release and deletion use it, so that an RGD that names another
	// ServiceAccount never strands a child.
	SA string `json:"sa,omitempty"`
}

// GVR returns the child's REST resource.
func (e Entry) GVR() schema.GroupVersionResource {
	gv, _ := schema.ParseGroupVersion(e.APIVersion)
	return gv.WithResource(e.Resource)
}

// ref is the identity of an object: what makes two entries the same child.
type ref struct {
	group, resource, namespace, name string
}

func (e Entry) ref() ref {
	return ref{group: e.GVR().Group, resource: e.Resource, namespace: e.Namespace, name: e.Name}
}

// Same reports whether e and o record the same object (group, resource,
// namespace and name), whatever their version, node or wave.
func (e Entry) Same(o Entry) bool { return e.ref() == o.ref() }

// String names the child for messages, e.g. apps/v1 Deployment carts-kro/carts.
func (e Entry) String() string {
	if e.Namespace == "" {
		return fmt.Sprintf("%s %s %s", e.APIVersion, e.Kind, e.Name)
	}
	return fmt.Sprintf("%s %s %s/%s", e.APIVersion, e.Kind, e.Namespace, e.Name)
}

// Inventory is the set of children an instance has, kept sorted.
type Inventory []Entry

// Read parses the inventory annotation of an instance; a missing one is
// empty.
func Read(annotations map[string]string) (Inventory, error) {
	raw, ok := annotations[metadata.AnnotationInventory]
	if !ok || raw == "" {
		return nil, nil
	}
	var inv Inventory
	if err := json.Unmarshal([]byte(raw), &inv); err != nil {
		return nil, fmt.Errorf("annotation %s is not a valid inventory: %w", metadata.AnnotationInventory, err)
	}
	inv.sort()
	return inv, nil
}

// Encode renders the inventory for the annotation.
func (inv Inventory) Encode() string {
	b, _ := json.Marshal(inv)
	return string(b)
}

// sort orders the entries by node, version, kind, namespace and name.
func (inv Inventory) sort() {
	slices.SortFunc(inv, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.APIVersion, b.APIVersion), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// Has reports whether the inventory records the child.
func (inv Inventory) Has(e Entry) bool {
	r := e.ref()
	for _, x := range inv {
		if x.ref() == r {
			return true
		}
	}
	return false
}

// With returns the inventory plus the entries it lacks, with the deletion
// policy (Orphan) of the entries it has set as given, and whether anything
// changed.
func (inv Inventory) With(entries ...Entry) (Inventory, bool) {
	out := slices.Clone(inv)
	at := make(map[ref]int, len(out))
	for i, e := range out {
		at[e.ref()] = i
	}
	changed := false
	for _, e := range entries {
		i, has := at[e.ref()]
		switch {
		case !has:
			at[e.ref()] = len(out)
			out = append(out, e)
			changed = true
		case out[i].Orphan != e.Orphan:
			out[i].Orphan = e.Orphan
			changed = true
		}
	}
	out.sort()
	return out, changed
}

// WrittenAs returns the inventory with the identity (SA) of the entries it
// has set as given, and whether anything changed. Entries it lacks are not
// added: an identity is recorded for an existing child once it has written
// the child, so that a child stays with the identity that can delete it.
func (inv Inventory) WrittenAs(entries ...Entry) (Inventory, bool) {
	out := slices.Clone(inv)
	changed := false
	for _, e := range entries {
		for i := range out {
			if out[i].Same(e) && out[i].SA != e.SA {
				out[i].SA = e.SA
				changed = true
			}
		}
	}
	return out, changed
}

// Without returns the inventory less the given children.
func (inv Inventory) Without(gone ...Entry) Inventory {
	drop := map[ref]bool{}
	for _, e := range gone {
		drop[e.ref()] = true
	}
	out := make(Inventory, 0, len(inv))
	for _, e := range inv {
		if !drop[e.ref()] {
			out = append(out, e)
		}
	}
	return out
}

// LastWave returns the entries of the highest deletion wave.
func (inv Inventory) LastWave() []Entry {
	if len(inv) == 0 {
		return nil
	}
	top := inv[0].Wave
	for _, e := range inv {
		top = max(top, e.Wave)
	}
	var out []Entry
	for _, e := range inv {
		if e.Wave == top {
			out = append(out, e)
		}
	}
	return out
}
