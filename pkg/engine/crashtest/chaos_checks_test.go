package crashtest_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// The chaos test's graph: four namespaced children in a chain,
// config -> sa -> role -> binding.
var chaosKinds = []struct {
	id  string
	gvr schema.GroupVersionResource
}{
	{"config", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}},
	{"sa", schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}},
	{"role", schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}},
	{"binding", schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}},
}

// chaosRGD returns the RGD of the chaos test's graph for a kind: chainRGD's
// three children and a RoleBinding of the Role to the ServiceAccount, which
// the instance's status names. A child's name is its instance's name, a dash
// and its id.
func chaosRGD(name, kind string) string {
	chain := strings.Replace(chainRGD(name, kind), "      role: ${role.metadata.name}\n", "      binding: ${binding.metadata.name}\n", 1)
	return chain + `  - id: binding
    template:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: RoleBinding
      metadata:
        name: ${schema.metadata.name}-binding
      roleRef:
        apiGroup: rbac.authorization.k8s.io
        kind: Role
        name: ${role.metadata.name}
      subjects:
      - kind: ServiceAccount
        name: ${sa.metadata.name}
        namespace: ${schema.metadata.namespace}
`
}

// chaosMessage is an instance's spec.message in a version of the scenario
// ("v1" when created, "v2" after the update).
func chaosMessage(version, instance string) string { return version + "-" + instance }

// chaosWorld is what one seed's namespace holds and should converge to.
type chaosWorld struct {
	dyn dynamic.Interface
	gvr schema.GroupVersionResource
	ns  string
	// names are the instances that must become ACTIVE.
	names []string
	// collide is the instance whose ConfigMap's name a user's ConfigMap
	// already has: it must not become ACTIVE.
	collide string
	// userCM is the user's ConfigMap as created.
	userCM *unstructured.Unstructured
}

// ownedObject is one object in the namespace with rgd's owned label.
type ownedObject struct {
	id  string // the child kind's id in chaosKinds
	obj unstructured.Unstructured
}

// describe is "kind namespace/name (instance NAME)".
func (o ownedObject) describe() string {
	return fmt.Sprintf("%s %s (instance %q)", o.id, o.obj.GetName(), o.obj.GetLabels()[metadata.LabelInstanceName])
}

// owned lists every object of the child kinds in the namespace that
// carries rgd's owned label.
func (w *chaosWorld) owned() ([]ownedObject, error) {
	var out []ownedObject
	for _, k := range chaosKinds {
		list, err := w.dyn.Resource(k.gvr).Namespace(w.ns).List(context.Background(),
			metav1.ListOptions{LabelSelector: metadata.LabelOwned + "=true"})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", k.gvr.Resource, err)
		}
		for _, item := range list.Items {
			out = append(out, ownedObject{id: k.id, obj: item})
		}
	}
	return out, nil
}

// instances lists the instances in the namespace by name.
func (w *chaosWorld) instances() (map[string]*unstructured.Unstructured, error) {
	list, err := w.dyn.Resource(w.gvr).Namespace(w.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing instances: %w", err)
	}
	out := map[string]*unstructured.Unstructured{}
	for i := range list.Items {
		out[list.Items[i].GetName()] = &list.Items[i]
	}
	return out, nil
}

// settledProblems says what keeps the namespace from the settled state of
// a version of the scenario: every instance but the colliding one ACTIVE,
// Ready for generation gen, with exactly its four children, which say what
// the version says; the colliding one refused, naming the user's
// ConfigMap; the user's ConfigMap untouched; nothing else owned by rgd.
func (w *chaosWorld) settledProblems(version string, gen int64) []string {
	insts, err := w.instances()
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	uids := map[string]string{}
	for name, inst := range insts {
		uids[name] = string(inst.GetUID())
		if name != w.collide && !slices.Contains(w.names, name) {
			problems = append(problems, fmt.Sprintf("instance %s: not created by the test", name))
		}
	}
	for _, name := range w.names {
		inst, ok := insts[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("instance %s: missing", name))
			continue
		}
		if p := instanceProblem(inst, chaosMessage(version, name), gen); p != "" {
			problems = append(problems, p)
		}
	}
	if inst, ok := insts[w.collide]; !ok {
		problems = append(problems, fmt.Sprintf("instance %s: missing", w.collide))
	} else if p := w.collideProblem(inst); p != "" {
		problems = append(problems, p)
	}
	problems = append(problems, w.childProblems(uids, version)...)
	if p := w.userConfigMapProblem(); p != "" {
		problems = append(problems, p)
	}
	return problems
}

// instanceProblem says why an instance that should converge has not: it
// must be ACTIVE with a True Ready condition for its current generation.
func instanceProblem(inst *unstructured.Unstructured, message string, gen int64) string {
	name := inst.GetName()
	if inst.GetDeletionTimestamp() != nil {
		return fmt.Sprintf("instance %s: being deleted", name)
	}
	if got, _, _ := unstructured.NestedString(inst.Object, "spec", "message"); got != message || inst.GetGeneration() != gen {
		return fmt.Sprintf("instance %s: spec.message %q generation %d, the test wrote %q generation %d", name, got, inst.GetGeneration(), message, gen)
	}
	state, _, _ := unstructured.NestedString(inst.Object, "status", "state")
	if state != "ACTIVE" {
		return fmt.Sprintf("instance %s: state %q; %s", name, state, conditionSummary(inst))
	}
	ready := findCondition(inst, "Ready")
	if ready == nil {
		return fmt.Sprintf("instance %s: ACTIVE without a Ready condition", name)
	}
	if ready["status"] != "True" {
		return fmt.Sprintf("instance %s: ACTIVE but Ready is %v: %v", name, ready["status"], ready["message"])
	}
	if og := int64Of(ready["observedGeneration"]); og != inst.GetGeneration() {
		return fmt.Sprintf("instance %s: ACTIVE and Ready, but Ready is for generation %d, not the current %d", name, og, inst.GetGeneration())
	}
	return ""
}

// collideProblem says why the colliding instance is not as it should be:
// not ACTIVE, with a condition that names the user's ConfigMap.
func (w *chaosWorld) collideProblem(inst *unstructured.Unstructured) string {
	state, _, _ := unstructured.NestedString(inst.Object, "status", "state")
	existing := w.userCM.GetName()
	if state == "ACTIVE" {
		return fmt.Sprintf("instance %s: ACTIVE, though the name of its ConfigMap %s is a user's ConfigMap", inst.GetName(), existing)
	}
	conds, _, _ := unstructured.NestedSlice(inst.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			if msg, _ := m["message"].(string); strings.Contains(msg, existing) {
				return ""
			}
		}
	}
	return fmt.Sprintf("instance %s: state %q and no condition names the existing ConfigMap %s; %s", inst.GetName(), state, existing, conditionSummary(inst))
}

// childProblems checks the owned children: each belongs to an instance
// that exists (by name and UID); every converging instance has one child
// of each kind, with the expected name and content; the colliding one has
// no ConfigMap and at most one child of any other kind.
func (w *chaosWorld) childProblems(uids map[string]string, version string) []string {
	objs, err := w.owned()
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	byInstance := map[string]map[string][]unstructured.Unstructured{}
	for _, o := range objs {
		labels := o.obj.GetLabels()
		inst := labels[metadata.LabelInstanceName]
		uid, ok := uids[inst]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: its instance does not exist", o.describe()))
			continue
		case labels[metadata.LabelInstanceID] != uid:
			problems = append(problems, fmt.Sprintf("%s: labelled with instance UID %s, the instance's is %s", o.describe(), labels[metadata.LabelInstanceID], uid))
			continue
		}
		if byInstance[inst] == nil {
			byInstance[inst] = map[string][]unstructured.Unstructured{}
		}
		byInstance[inst][o.id] = append(byInstance[inst][o.id], o.obj)
	}
	for _, name := range append([]string{w.collide}, w.names...) {
		for _, k := range chaosKinds {
			children := byInstance[name][k.id]
			want := name + "-" + k.id
			switch {
			case name == w.collide && k.id == "config" && len(children) > 0:
				problems = append(problems, fmt.Sprintf("instance %s: owns ConfigMap %s, the name of a user's ConfigMap", name, children[0].GetName()))
			case len(children) == 0 && name != w.collide:
				problems = append(problems, fmt.Sprintf("instance %s: no %s child (want %s)", name, k.id, want))
			case len(children) > 1:
				problems = append(problems, fmt.Sprintf("instance %s: %d %s children: %s", name, len(children), k.id, objectNames(children)))
			case len(children) == 1 && children[0].GetName() != want:
				problems = append(problems, fmt.Sprintf("instance %s: %s child named %s, want %s", name, k.id, children[0].GetName(), want))
			case len(children) == 1 && name != w.collide:
				if p := chaosChildProblem(k.id, &children[0], name, w.ns, version); p != "" {
					problems = append(problems, fmt.Sprintf("instance %s: %s %s: %s", name, k.id, want, p))
				}
			}
		}
	}
	return problems
}

// chaosChildProblem checks a child's content against its instance.
func chaosChildProblem(id string, obj *unstructured.Unstructured, inst, ns, version string) string {
	str := func(fields ...string) string {
		v, _, _ := unstructured.NestedString(obj.Object, fields...)
		return v
	}
	var got, want string
	switch id {
	case "config":
		got, want = str("data", "message"), chaosMessage(version, inst)
	case "sa":
		got, want = obj.GetAnnotations()["rgd.test/config"], inst+"-config"
	case "role":
		got = obj.GetAnnotations()["rgd.test/sa"] + " " + fmt.Sprint(firstItem(obj, "rules")["resourceNames"])
		want = inst + "-sa [" + inst + "-config]"
	case "binding":
		sub := firstItem(obj, "subjects")
		got = fmt.Sprintf("%s/%s %v/%v/%v", str("roleRef", "kind"), str("roleRef", "name"), sub["kind"], sub["namespace"], sub["name"])
		want = "Role/" + inst + "-role ServiceAccount/" + ns + "/" + inst + "-sa"
	}
	if got != want {
		return fmt.Sprintf("content %q, want %q", got, want)
	}
	return ""
}

// userConfigMapProblem says how the user's ConfigMap changed, if it did.
func (w *chaosWorld) userConfigMapProblem() string {
	name := w.userCM.GetName()
	cm, err := w.dyn.Resource(chaosKinds[0].gvr).Namespace(w.ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("the user's ConfigMap %s is gone", name)
	}
	if err != nil {
		return fmt.Sprintf("getting the user's ConfigMap %s: %v", name, err)
	}
	var rgdLabels []string
	for k, v := range cm.GetLabels() {
		if strings.HasPrefix(k, "kro.run/") || k == metadata.LabelManagedBy || k == metadata.LabelApplySetPartOf {
			rgdLabels = append(rgdLabels, k+"="+v)
		}
	}
	sort.Strings(rgdLabels)
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	before, _, _ := unstructured.NestedStringMap(w.userCM.Object, "data")
	if cm.GetResourceVersion() != w.userCM.GetResourceVersion() || len(rgdLabels) > 0 || fmt.Sprint(data) != fmt.Sprint(before) {
		return fmt.Sprintf("the user's ConfigMap %s changed: resourceVersion %s (was %s), rgd's labels %v, data %v (was %v)",
			name, cm.GetResourceVersion(), w.userCM.GetResourceVersion(), rgdLabels, data, before)
	}
	return ""
}

// goneProblems says what is left after every instance was deleted: the
// instances themselves, any child rgd owns in the namespace, or a change
// to the user's ConfigMap.
func (w *chaosWorld) goneProblems() []string {
	insts, err := w.instances()
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for name, inst := range insts {
		state, _, _ := unstructured.NestedString(inst.Object, "status", "state")
		problems = append(problems, fmt.Sprintf("instance %s: still exists (state %q, deleting %v, finalizers %v); %s",
			name, state, inst.GetDeletionTimestamp() != nil, inst.GetFinalizers(), conditionSummary(inst)))
	}
	objs, err := w.owned()
	if err != nil {
		return append(problems, err.Error())
	}
	for _, o := range objs {
		problems = append(problems, fmt.Sprintf("%s: left behind", o.describe()))
	}
	if p := w.userConfigMapProblem(); p != "" {
		problems = append(problems, p)
	}
	return problems
}

// firstItem returns the first element of a list field of obj, or nil.
func firstItem(obj *unstructured.Unstructured, field string) map[string]any {
	list, _, _ := unstructured.NestedSlice(obj.Object, field)
	if len(list) == 0 {
		return nil
	}
	m, _ := list[0].(map[string]any)
	return m
}

// findCondition returns an instance's condition of a type, or nil.
func findCondition(inst *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(inst.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

// conditionSummary lists an instance's conditions that are not True, for
// failure messages.
func conditionSummary(inst *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(inst.Object, "status", "conditions")
	var parts []string
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["status"] == "True" {
			continue
		}
		msg := fmt.Sprint(m["message"])
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		parts = append(parts, fmt.Sprintf("%v=%v (%v, generation %v): %s", m["type"], m["status"], m["reason"], m["observedGeneration"], msg))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d conditions, all True", len(conds))
	}
	return "conditions: " + strings.Join(parts, " | ")
}

// int64Of reads a JSON number of an unstructured object.
func int64Of(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case int:
		return int64(n)
	}
	return -1
}

// objectNames lists objects' names.
func objectNames(objs []unstructured.Unstructured) string {
	names := make([]string, len(objs))
	for i := range objs {
		names[i] = objs[i].GetName()
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// formatProblems sorts problems and keeps the first 40, one a line.
func formatProblems(problems []string) string {
	sort.Strings(problems)
	const shown = 40
	n, more := len(problems), ""
	if n > shown {
		more = fmt.Sprintf("\n  ... and %d more", n-shown)
		problems = problems[:shown]
	}
	return fmt.Sprintf("%d problems:\n  %s%s", n, strings.Join(problems, "\n  "), more)
}
