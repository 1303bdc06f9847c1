package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// The scenario suite: every scenario runs in parallel with the others, in
// its own namespace, with its own RGD name and kind, against the package's
// one engine and control plane.

// scWait is the deadline of one step of a scenario: generous for a loaded
// 2-core machine, never reached when the engine works.
const scWait = 45 * time.Second

var (
	scSecrets         = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	scServices        = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	scServiceAccounts = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	scNamespaces      = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	scEvents          = schema.GroupVersionResource{Version: "v1", Resource: "events"}
	scCRDs            = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// sc is one scenario: a namespace, an RGD name and an instance kind of its own.
type sc struct {
	t    *testing.T
	dyn  dynamic.Interface
	ns   string
	rgd  string
	kind string
	gvr  schema.GroupVersionResource
}

// newSc starts a parallel scenario. short is an UpperCamelCase word unique
// in the suite: the RGD is "sc-<short>", the kind "Sc<short>App".
func newSc(t *testing.T, short string) *sc {
	t.Helper()
	t.Parallel()
	dyn := startEngine(t)
	ns := devclustertest.Namespace(t)
	lower := strings.ToLower(short)
	return &sc{
		t: t, dyn: dyn, ns: ns,
		rgd:  "sc-" + lower,
		kind: "Sc" + short + "App",
		gvr:  schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "sc" + lower + "apps"},
	}
}

// expand replaces the placeholders __RGD__, __KIND__ and NAMESPACE.
func (s *sc) expand(doc string) string {
	doc = strings.ReplaceAll(doc, "__RGD__", s.rgd)
	doc = strings.ReplaceAll(doc, "__KIND__", s.kind)
	return strings.ReplaceAll(doc, "NAMESPACE", s.ns)
}

// apply applies any object given as YAML (placeholders expanded).
func (s *sc) apply(doc string) *unstructured.Unstructured {
	s.t.Helper()
	return apply(s.t, s.dyn, s.ns, s.expand(doc))
}

// setup applies the scenario's RGD and waits until it is Active.
func (s *sc) setup(doc string) {
	s.t.Helper()
	s.apply(doc)
	waitRGDActive(s.t, s.dyn, s.rgd)
}

// instance applies an instance of the scenario's kind in its namespace.
func (s *sc) instance(name string, spec map[string]any, annotations map[string]string) *unstructured.Unstructured {
	s.t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1",
		"kind":       s.kind,
		"metadata":   map[string]any{"name": name, "namespace": s.ns},
	}}
	if spec != nil {
		obj.Object["spec"] = spec
	}
	if annotations != nil {
		obj.SetAnnotations(annotations)
	}
	out, err := s.dyn.Resource(s.gvr).Namespace(s.ns).Apply(context.Background(), name, obj,
		metav1.ApplyOptions{FieldManager: "test", Force: true})
	require.NoError(s.t, err)
	return out
}

// waitState waits for an instance of the scenario to reach a state.
func (s *sc) waitState(name, state string) *unstructured.Unstructured {
	s.t.Helper()
	return waitState(s.t, s.dyn, s.gvr, s.ns, name, state, scWait)
}

// getInstance reads an instance.
func (s *sc) getInstance(name string) *unstructured.Unstructured {
	s.t.Helper()
	obj, err := get(s.dyn, s.gvr, s.ns, name)
	require.NoError(s.t, err)
	return obj
}

// waitInstance polls an instance until check holds.
func (s *sc) waitInstance(name, what string, check func(*unstructured.Unstructured) (bool, string)) *unstructured.Unstructured {
	s.t.Helper()
	var obj *unstructured.Unstructured
	eventually(s.t, scWait, what, func() (bool, string) {
		var err error
		obj, err = get(s.dyn, s.gvr, s.ns, name)
		if err != nil {
			return false, err.Error()
		}
		return check(obj)
	})
	return obj
}

// waitObj polls any object until check holds; a missing object is passed as nil.
func (s *sc) waitObj(gvr schema.GroupVersionResource, namespace, name, what string, check func(*unstructured.Unstructured) (bool, string)) *unstructured.Unstructured {
	s.t.Helper()
	var obj *unstructured.Unstructured
	eventually(s.t, scWait, what, func() (bool, string) {
		var err error
		obj, err = get(s.dyn, gvr, namespace, name)
		if apierrors.IsNotFound(err) {
			obj = nil
		} else if err != nil {
			return false, err.Error()
		}
		return check(obj)
	})
	return obj
}

// waitCM waits for a ConfigMap of the scenario's namespace to exist and pass check.
func (s *sc) waitCM(name string, check func(data map[string]any) (bool, string)) *unstructured.Unstructured {
	s.t.Helper()
	return s.waitObj(configMaps, s.ns, name, "ConfigMap "+name, func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return false, "absent"
		}
		return check(scData(o))
	})
}

// waitCMValue waits for a ConfigMap key to hold a value.
func (s *sc) waitCMValue(name, key, want string) *unstructured.Unstructured {
	s.t.Helper()
	return s.waitCM(name, func(d map[string]any) (bool, string) {
		return d[key] == want, fmt.Sprintf("data %v", d)
	})
}

// waitGone waits until an object does not exist.
func (s *sc) waitGone(gvr schema.GroupVersionResource, namespace, name string) {
	s.t.Helper()
	s.waitObj(gvr, namespace, name, fmt.Sprintf("%s %s/%s gone", gvr.Resource, namespace, name), func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return true, ""
		}
		return false, fmt.Sprintf("still there (deletionTimestamp %v, finalizers %v)", o.GetDeletionTimestamp(), o.GetFinalizers())
	})
}

// exists reports whether an object exists now.
func (s *sc) exists(gvr schema.GroupVersionResource, namespace, name string) bool {
	s.t.Helper()
	_, err := get(s.dyn, gvr, namespace, name)
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(s.t, err)
	return true
}

// deleteInstance deletes an instance (the engine finalizes it).
func (s *sc) deleteInstance(name string) {
	s.t.Helper()
	require.NoError(s.t, s.dyn.Resource(s.gvr).Namespace(s.ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
}

// mergePatch merge-patches any object as a third party ("someone else").
func (s *sc) mergePatch(gvr schema.GroupVersionResource, namespace, name, patch string) *unstructured.Unstructured {
	s.t.Helper()
	out, err := s.dyn.Resource(gvr).Namespace(namespace).Patch(context.Background(), name, types.MergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: "someone-else"})
	require.NoError(s.t, err)
	return out
}

// rgdObj reads the scenario's RGD.
func (s *sc) rgdObj() *unstructured.Unstructured {
	s.t.Helper()
	obj, err := get(s.dyn, v1alpha1.ResourceGraphDefinitionResource, "", s.rgd)
	require.NoError(s.t, err)
	return obj
}

// waitRGD polls the scenario's RGD until check holds.
func (s *sc) waitRGD(what string, check func(*unstructured.Unstructured) (bool, string)) *unstructured.Unstructured {
	s.t.Helper()
	var obj *unstructured.Unstructured
	eventually(s.t, scWait, what, func() (bool, string) {
		var err error
		obj, err = get(s.dyn, v1alpha1.ResourceGraphDefinitionResource, "", s.rgd)
		if apierrors.IsNotFound(err) {
			obj = nil
			return check(nil)
		}
		if err != nil {
			return false, err.Error()
		}
		return check(obj)
	})
	return obj
}

// scCond is one condition as read from an object's status.
type scCond struct {
	Status, Reason, Message string
	Found                   bool
}

// scCondition returns a condition of an object's status.
func scCondition(obj *unstructured.Unstructured, typ string) scCond {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			str := func(k string) string { v, _ := m[k].(string); return v }
			return scCond{Status: str("status"), Reason: str("reason"), Message: str("message"), Found: true}
		}
	}
	return scCond{}
}

// scState returns status.state.
func scState(obj *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(obj.Object, "status", "state")
	return s
}

// scData returns a ConfigMap's data (empty when it has none).
func scData(obj *unstructured.Unstructured) map[string]any {
	d, _ := obj.Object["data"].(map[string]any)
	if d == nil {
		d = map[string]any{}
	}
	return d
}

// scStatus returns an object's status (without state and conditions).
func scStatus(obj *unstructured.Unstructured) map[string]any {
	st, _ := obj.Object["status"].(map[string]any)
	out := map[string]any{}
	for k, v := range st {
		if k != "state" && k != "conditions" {
			out[k] = v
		}
	}
	return out
}

// scJSON renders a value for messages.
func scJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// consistently polls cond for the whole duration and fails at the first
// observation where it does not hold: a bounded check that something stays
// true, not a sleep.
func consistently(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for polls := 0; ; polls++ {
		ok, obs := cond()
		if !ok {
			t.Fatalf("%s stopped holding after %d polls: %s", what, polls, obs)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// listCMs lists the scenario namespace's ConfigMaps carrying a label selector.
func (s *sc) listCMs(selector string) []unstructured.Unstructured {
	s.t.Helper()
	list, err := s.dyn.Resource(configMaps).Namespace(s.ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	require.NoError(s.t, err)
	return list.Items
}

// cmNames returns the sorted names of ConfigMaps.
func cmNames(items []unstructured.Unstructured) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.GetName())
	}
	return out
}

// waitEvent waits until the events of reason on obj name every one of want,
// and returns their messages joined.
func (s *sc) waitEvent(obj *unstructured.Unstructured, reason string, want ...string) string {
	s.t.Helper()
	var all string
	eventually(s.t, scWait, reason+" events on "+obj.GetName(), func() (bool, string) {
		list, err := s.dyn.Resource(scEvents).Namespace(obj.GetNamespace()).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var msgs []string
		for _, ev := range list.Items {
			uid, _, _ := unstructured.NestedString(ev.Object, "involvedObject", "uid")
			r, _, _ := unstructured.NestedString(ev.Object, "reason")
			msg, _, _ := unstructured.NestedString(ev.Object, "message")
			if uid == string(obj.GetUID()) && r == reason {
				msgs = append(msgs, msg)
			}
		}
		all = strings.Join(msgs, " | ")
		for _, w := range want {
			if !strings.Contains(all, w) {
				return false, all
			}
		}
		return true, all
	})
	return all
}
