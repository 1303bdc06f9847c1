package crashtest_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// The tests' graph: three namespaced children in a chain,
// config -> sa -> role, so that creation and deletion each take three waves.
var childKinds = []struct {
	id  string
	gvr schema.GroupVersionResource
}{
	{"config", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}},
	{"sa", schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}},
	{"role", schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}},
}

// chainRGD returns the RGD of the tests' graph for a kind.
func chainRGD(name, kind string) string {
	return fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: %s
spec:
  schema:
    apiVersion: v1alpha1
    kind: %s
    spec:
      message: string | default=hello
    status:
      role: ${role.metadata.name}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
        message: ${schema.spec.message}
  - id: sa
    template:
      apiVersion: v1
      kind: ServiceAccount
      metadata:
        name: ${schema.metadata.name}-sa
        annotations:
          rgd.test/config: ${config.metadata.name}
  - id: role
    template:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: Role
      metadata:
        name: ${schema.metadata.name}-role
        annotations:
          rgd.test/sa: ${sa.metadata.name}
      rules:
      - apiGroups: [""]
        resources: ["configmaps"]
        resourceNames: ["${config.metadata.name}"]
        verbs: ["get"]
`, name, kind)
}

// instanceResource is the generated resource of a kind of chainRGD.
func instanceResource(plural string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: plural}
}

// instanceNames returns prefix-00 .. prefix-(n-1).
func instanceNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

// createInstances creates the instances in ns.
func createInstances(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, kind, ns string, names []string) {
	t.Helper()
	for _, name := range names {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": gvr.GroupVersion().String(),
			"kind":       kind,
			"metadata":   map[string]any{"name": name, "namespace": ns},
			"spec":       map[string]any{"message": "hi " + name},
		}}
		_, err := dyn.Resource(gvr).Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{})
		require.NoError(t, err, "creating instance %s", name)
	}
}

// ownedChildren lists every object of the child kinds in ns that carries
// rgd's owned label, as "id/name" by the instance label's value.
func ownedChildren(dyn dynamic.Interface, ns string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, k := range childKinds {
		list, err := dyn.Resource(k.gvr).Namespace(ns).List(context.Background(),
			metav1.ListOptions{LabelSelector: metadata.LabelOwned + "=true"})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", k.gvr.Resource, err)
		}
		for _, item := range list.Items {
			inst := item.GetLabels()[metadata.LabelInstanceName]
			out[inst] = append(out[inst], k.id+"/"+item.GetName())
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out, nil
}

// countChildren is the number of owned children of the instances named.
func countChildren(children map[string][]string, names []string) int {
	n := 0
	for _, name := range names {
		n += len(children[name])
	}
	return n
}

// expectedChildren is what ownedChildren returns for the live instances.
func expectedChildren(names []string) map[string][]string {
	out := map[string][]string{}
	for _, name := range names {
		out[name] = []string{"config/" + name + "-config", "role/" + name + "-role", "sa/" + name + "-sa"}
	}
	return out
}

// convergence describes how far ns is from: the live instances ACTIVE with
// exactly their children, no other instance, and nothing else owned by rgd
// (so the children of deleted instances are gone). It returns "" once converged.
func convergence(dyn dynamic.Interface, gvr schema.GroupVersionResource, ns string, live []string) string {
	var problems []string
	list, err := dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	states := map[string]string{}
	for _, item := range list.Items {
		state, _, _ := unstructured.NestedString(item.Object, "status", "state")
		if item.GetDeletionTimestamp() != nil {
			state += "(deleting)"
		}
		states[item.GetName()] = state
	}
	for _, name := range live {
		if s, ok := states[name]; !ok {
			problems = append(problems, "instance "+name+" missing")
		} else if s != "ACTIVE" {
			problems = append(problems, fmt.Sprintf("instance %s is %q", name, s))
		}
		delete(states, name)
	}
	for name, s := range states {
		problems = append(problems, fmt.Sprintf("instance %s (%q) should be gone", name, s))
	}
	children, err := ownedChildren(dyn, ns)
	if err != nil {
		return err.Error()
	}
	want := expectedChildren(live)
	for name, got := range children {
		if w := want[name]; strings.Join(w, ",") != strings.Join(got, ",") {
			problems = append(problems, fmt.Sprintf("children of %q: got %v, want %v", name, got, w))
		}
	}
	for name, w := range want {
		if _, ok := children[name]; !ok {
			problems = append(problems, fmt.Sprintf("children of %q: none, want %v", name, w))
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; ")
}

// waitConverged waits until convergence reports nothing.
func waitConverged(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns string, live []string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "convergence", func() (bool, string) {
		p := convergence(dyn, gvr, ns, live)
		return p == "", p
	})
}

// deleteRGD deletes an RGD and waits until it is gone.
func deleteRGD(t *testing.T, dyn dynamic.Interface, name string) {
	t.Helper()
	err := dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Delete(context.Background(), name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	require.NoError(t, err)
	eventually(t, 60*time.Second, "RGD "+name+" deleted", func() (bool, string) {
		_, err := dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprint(err)
	})
}
