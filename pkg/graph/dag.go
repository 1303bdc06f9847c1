package graph

import (
	"slices"

	"gonum.org/v1/gonum/graph/simple"
	"gonum.org/v1/gonum/graph/topo"
)

// orderResources sorts resources topologically, breaking ties by declaration
// order: a resource comes after everything it depends on, and otherwise as
// early as it was declared. When the dependencies have cycles it returns the
// ids on each cycle (gonum's strongly connected components) instead.
func orderResources(resources []*Resource) ([]*Resource, [][]string) {
	g := simple.NewDirectedGraph()
	index := make(map[string]int64, len(resources))
	for i, r := range resources {
		index[r.ID] = int64(i)
		g.AddNode(simple.Node(int64(i)))
	}
	for i, r := range resources {
		for _, dep := range r.Dependencies {
			j, ok := index[dep]
			if !ok || j == int64(i) {
				continue
			}
			g.SetEdge(g.NewEdge(simple.Node(j), simple.Node(int64(i))))
		}
	}
	// Kahn's algorithm, always taking the ready resource declared first, so
	// that the order is stable and reads like the RGD.
	indegree := make([]int, len(resources))
	for i := range resources {
		indegree[i] = g.To(int64(i)).Len()
	}
	done := make([]bool, len(resources))
	sorted := make([]int, 0, len(resources))
	for len(sorted) < len(resources) {
		next := -1
		for i := range resources {
			if !done[i] && indegree[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		done[next] = true
		sorted = append(sorted, next)
		to := g.From(int64(next))
		for to.Next() {
			indegree[to.Node().ID()]--
		}
	}
	if len(sorted) < len(resources) {
		var cycles [][]string
		for _, component := range topo.TarjanSCC(g) {
			if len(component) < 2 {
				continue
			}
			ids := make([]string, len(component))
			for k, n := range component {
				ids[k] = resources[n.ID()].ID
			}
			cycles = append(cycles, cycleOrder(ids, index))
		}
		slices.SortFunc(cycles, func(a, b []string) int { return int(index[a[0]] - index[b[0]]) })
		return nil, cycles
	}
	out := make([]*Resource, len(sorted))
	for i, n := range sorted {
		out[i] = resources[n]
	}
	return out, nil
}

// cycleOrder puts the ids of a strongly connected component in declaration
// order, starting with the first declared, so that messages are stable.
func cycleOrder(ids []string, index map[string]int64) []string {
	slices.SortFunc(ids, func(a, b string) int { return int(index[a] - index[b]) })
	return ids
}
