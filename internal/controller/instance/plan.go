package instance

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/render"
)

// Planning: for each resource of a level, render it and decide what it needs:
// nothing (skipped, waiting, up to date), a create, a take-over, or an apply.

// layout is what the reconciler derives once from a graph: the creation
// levels (a resource's level is one more than its deepest dependency's) and
// the deletion waves (dependents are deleted before what they depend on,
// and Namespaces after everything, the children that live in them), and
// the resources by the value of their children's node-id label.
type layout struct {
	levels [][]*graph.Resource
	waves  map[string]int
	byNode map[string]*graph.Resource
}

func newLayout(g *graph.Graph) layout {
	l := layout{waves: map[string]int{}, byNode: map[string]*graph.Resource{}}
	level := map[string]int{}
	for _, res := range g.Resources {
		l.byNode[metadata.NodeIDLabel(res.ID)] = res
		n := 0
		for _, d := range res.Dependencies {
			n = max(n, level[d]+1)
		}
		level[res.ID] = n
		for len(l.levels) <= n {
			l.levels = append(l.levels, nil)
		}
		l.levels[n] = append(l.levels[n], res)
		if res.GVK.Group == "" && res.GVK.Kind == "Namespace" {
			l.waves[res.ID] = 0
		} else {
			l.waves[res.ID] = n + 1
		}
	}
	return l
}

// entry is the inventory entry of a rendered child.
func (l layout) entry(res *graph.Resource, u *unstructured.Unstructured) inventory.Entry {
	return inventory.Entry{
		APIVersion: res.GVK.GroupVersion().String(), Kind: res.GVK.Kind, Resource: res.GVR.Resource,
		Namespace: u.GetNamespace(), Name: u.GetName(), Node: res.ID, Wave: l.waves[res.ID], Orphan: res.Orphans(),
	}
}

// plan decides what a resource needs: nothing (skipped, waiting, up to date)
// or writes.
func (p *pass) plan(res *graph.Resource) []*action {
	ns := &nodeState{}
	p.states[res.ID] = ns
	for _, dep := range res.Dependencies {
		ds := p.states[dep]
		if ds.state == stateSkipped {
			ns.state, ns.ready, ns.complete = stateSkipped, true, true
			ns.message = fmt.Sprintf("skipped because %s is skipped", dep)
			return nil
		}
	}
	var waiting []string
	for _, dep := range res.Dependencies {
		if !p.states[dep].ready {
			waiting = append(waiting, dep)
		}
	}
	if len(waiting) > 0 {
		ns.state = stateWaiting
		ns.message = "waiting for " + strings.Join(waiting, ", ")
		return nil
	}
	rendered, err := render.Resource(res, p.in, p.inst.GetNamespace(), render.Options{MaxCollectionSize: p.r.opts.MaxCollectionSize})
	if err != nil {
		ns.state, ns.message = stateError, err.Error()
		p.graphErr = err
		return nil
	}
	if !rendered.Included {
		ns.state, ns.ready, ns.complete = stateSkipped, true, true
		ns.message = "excluded by includeWhen"
		return nil
	}
	if len(rendered.Pending) > 0 {
		ns.state, ns.pendingData = stateInProgress, true
		ns.message = "waiting for data: " + rendered.Pending[0].String()
		return nil
	}
	if res.External {
		p.observeExternal(res, rendered.Objects[0], ns)
		return nil
	}
	ns.complete = true
	var actions []*action
	view := cacheView{r: p.r}
	seen := map[string]bool{}
	for i, obj := range rendered.Objects {
		u := &unstructured.Unstructured{Object: obj}
		if id := joinName(u.GetNamespace(), u.GetName()); seen[id] {
			ns.state, ns.complete = stateError, false
			ns.message = fmt.Sprintf("forEach produced two objects named %s: every combination must have a unique name", id)
			return nil
		} else {
			seen[id] = true
		}
		actions = append(actions, p.planChild(res, u, i, len(rendered.Objects), ns, view))
	}
	return actions
}

// planChild decorates one rendered object of a resource, records it as
// desired, and decides what it needs.
func (p *pass) planChild(res *graph.Resource, u *unstructured.Unstructured, i, size int, ns *nodeState, view childView) *action {
	if len(res.ExternalFields) > 0 {
		// Before decorate: the desired-hash must not cover what rgd leaves
		// to others, or the child would never be up to date.
		leaveExternalFields(res, u, view.Owned(res.GVR, u.GetNamespace(), u.GetName()), p.inst.GetUID())
	}
	p.decorate(res, u, i, size)
	entry := p.st.layout.entry(res, u)
	entry.SA = p.actor.sa
	ns.desired = append(ns.desired, entry)
	a := &action{node: res, index: i, obj: u, entry: entry}
	v, live := decideChild(view, res.GVR, u, p.inst.GetUID(), p.st.kind.AdoptExisting)
	a.live = live
	switch v {
	case verdictCreate:
		a.create = true
	case verdictAdopt:
		p.r.routes.trackExternal(p.key, res.GVR, u.GetNamespace(), u.GetName()) // hear when it goes away, or changes hands
		a.adopt = true
	case verdictRefuseForeign:
		p.r.routes.trackExternal(p.key, res.GVR, u.GetNamespace(), u.GetName())
		a.err = p.refuseAdoption(a)
	case verdictRefuseOtherInstance:
		a.err = &refusedError{msg: fmt.Sprintf("%s belongs to another instance (%s %s/%s)", entry, live.GetLabels()[metadata.LabelInstanceKind],
			live.GetLabels()[metadata.LabelInstanceNamespace], live.GetLabels()[metadata.LabelInstanceName])}
	case verdictWaitDeleting:
		a.message = fmt.Sprintf("%s is being deleted; waiting to create it again", entry)
	case verdictUpToDate:
		a.upToDate = true
	}
	return a
}

// refuseAdoption is the error of a child whose name an object rgd did not
// create already has.
func (p *pass) refuseAdoption(a *action) error {
	err := &refusedError{msg: fmt.Sprintf("%s already exists and was not created by rgd for this instance: rgd does not take over objects it did not create (annotate the ResourceGraphDefinition %s=\"true\" to allow it)",
		a.entry, metadata.AnnotationAdopt)}
	p.r.event(p.inst, "Warning", "AdoptionRefused", "%v", err)
	return err
}

// decorate stamps rgd's labels and annotations on a child.
func (p *pass) decorate(res *graph.Resource, u *unstructured.Unstructured, index, size int) {
	gvk := p.g.Instance.GVK
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[metadata.LabelOwned] = "true"
	labels[metadata.LabelKroVersion] = p.r.opts.Version
	labels[metadata.LabelManagedBy] = metadata.ManagedByValue
	labels[metadata.LabelInstanceID] = string(p.inst.GetUID())
	labels[metadata.LabelInstanceName] = p.inst.GetName()
	if p.inst.GetNamespace() != "" {
		labels[metadata.LabelInstanceNamespace] = p.inst.GetNamespace()
	}
	labels[metadata.LabelInstanceGroup] = gvk.Group
	labels[metadata.LabelInstanceVersion] = gvk.Version
	labels[metadata.LabelInstanceKind] = gvk.Kind
	labels[metadata.LabelNodeID] = metadata.NodeIDLabel(res.ID)
	labels[metadata.LabelApplySetPartOf] = string(p.inst.GetUID())
	if len(res.ForEach) > 0 {
		labels[metadata.LabelCollectionIndex] = strconv.Itoa(index)
		labels[metadata.LabelCollectionSize] = strconv.Itoa(size)
	}
	u.SetLabels(labels)
	annotations := u.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[metadata.AnnotationApplyOrder] = strconv.Itoa(p.st.layout.waves[res.ID])
	annotations[metadata.AnnotationNodePath] = res.ID
	if key := deletionPolicyAnnotation(res.DeletionPolicy); key != "" {
		annotations[key] = string(res.DeletionPolicy)
	}
	delete(annotations, metadata.AnnotationDesiredHash)
	u.SetAnnotations(annotations)
	// The fingerprint of everything above: a live object that carries it
	// and every desired field is exactly what rgd would apply.
	annotations[metadata.AnnotationDesiredHash] = hashObject(u.Object)
	u.SetAnnotations(annotations)
}

// desiredHash is the fingerprint decorate stamped on a desired child.
func desiredHash(desired *unstructured.Unstructured) string {
	return desired.GetAnnotations()[metadata.AnnotationDesiredHash]
}

// upToDate reports whether applying desired would change nothing: either
// rgd applied this very desired state and nobody touched the object since,
// or the live object holds every desired field, including the desired-hash
// annotation (so a field removed from the template is not up to date).
func (r *Reconciler) upToDate(live, desired *unstructured.Unstructured) bool {
	h := desiredHash(desired)
	if r.memory.appliedUnchanged(live, h) {
		return true
	}
	if covers(live.Object, desired.Object) {
		r.memory.rememberApplied(live, h)
		return true
	}
	return false
}
