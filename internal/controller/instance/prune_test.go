package instance

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/graph"
)

// TestStaleEntries covers which children a pass prunes: those of resources
// gone from the graph, excluded (skipped), or no longer produced by a
// collection; never those of a resource that could not be fully rendered.
func TestStaleEntries(t *testing.T) {
	entry := func(node, name string) inventory.Entry {
		return inventory.Entry{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "team", Name: name, Node: node}
	}
	inv := inventory.Inventory{
		entry("config", "web-config"),
		entry("gone", "web-old"),
		entry("optional", "web-optional"),
		entry("workers", "web-w0"),
		entry("workers", "web-w1"),
		entry("pending", "web-pending"),
	}
	states := map[string]*nodeState{
		"config":   {state: stateSynced, complete: true, desired: []inventory.Entry{entry("config", "web-config")}},
		"optional": {state: stateSkipped, complete: true},
		"workers":  {state: stateSynced, complete: true, desired: []inventory.Entry{entry("workers", "web-w0")}},
		"pending":  {state: stateInProgress, pendingData: true},
	}
	assert.Equal(t, []inventory.Entry{
		entry("gone", "web-old"),          // its resource left the graph
		entry("optional", "web-optional"), // excluded by includeWhen
		entry("workers", "web-w1"),        // the collection shrank
	}, staleEntries(inv, states))
}

// TestDeletionOrder covers the deletion waves: dependents go before what
// they depend on, and Namespaces after everything, since the other children
// live in them.
func TestDeletionOrder(t *testing.T) {
	res := func(id, group, kind string, deps ...string) *graph.Resource {
		r := &graph.Resource{ID: id, Dependencies: deps}
		r.GVK.Group, r.GVK.Kind = group, kind
		return r
	}
	g := &graph.Graph{Resources: []*graph.Resource{
		res("ns", "", "Namespace"),
		res("config", "", "ConfigMap", "ns"),
		res("deployment", "apps", "Deployment", "config"),
		res("service", "", "Service", "deployment"),
	}}
	l := newLayout(g)
	assert.Equal(t, 0, l.waves["ns"], "the Namespace goes last")
	assert.Less(t, l.waves["config"], l.waves["deployment"], "the Deployment, which reads the ConfigMap, goes first")
	assert.Less(t, l.waves["deployment"], l.waves["service"])
	assert.Less(t, l.waves["ns"], l.waves["config"])

	var inv inventory.Inventory
	for _, r := range g.Resources {
		inv = append(inv, inventory.Entry{Resource: r.ID + "s", Name: "web", Node: r.ID, Wave: l.waves[r.ID]})
	}
	var order []string
	for len(inv) > 0 {
		wave := inv.LastWave()
		for _, e := range wave {
			order = append(order, e.Node)
		}
		inv = inv.Without(wave...)
	}
	assert.Equal(t, []string{"service", "deployment", "config", "ns"}, order)
}
