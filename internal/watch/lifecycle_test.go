package watch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// logSink collects log lines.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, prefix+" "+args)
}

func (l *logSink) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// A watched type whose CRD is deleted keeps failing (the reflector backs
// off); the errors go to Options.Logger and Release still stops the informer.
func TestReleaseStopsInformerOfDeletedType(t *testing.T) {
	_, dc := clients(t)
	ctx := context.Background()
	ax, err := apiext.NewForConfig(devclustertest.Config())
	require.NoError(t, err)

	group := fmt.Sprintf("w%d.watch.rgd.test", time.Now().UnixNano())
	crd := &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets." + group},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: group,
			Names: apiextv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Gadget", ListKind: "GadgetList"},
			Scope: apiextv1.ClusterScoped,
			Versions: []apiextv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptrTo(true),
				}},
			}},
		},
	}
	_, err = ax.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = ax.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), crd.Name, metav1.DeleteOptions{})
	})
	gvr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "gadgets"}
	// The type is served shortly after the CRD is established.
	require.Eventually(t, func() bool {
		_, err := dc.Resource(gvr).List(ctx, metav1.ListOptions{})
		return err == nil
	}, wait, tick)

	logs := &logSink{}
	m := NewManager(dc, Options{Logger: funcr.New(logs.add, funcr.Options{Verbosity: 4})})
	defer m.Stop()
	rec := &recorder{}
	key := Key{GVR: gvr}
	c, err := m.Watch(ctx, "a", key, rec.handle)
	require.NoError(t, err)

	g := &unstructured.Unstructured{}
	g.SetAPIVersion(group + "/v1")
	g.SetKind("Gadget")
	g.SetName("one")
	_, err = dc.Resource(gvr).Create(ctx, g, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, ok := c.Get("", "one"); return ok }, wait, tick, "cluster-scoped objects are keyed by name")

	require.NoError(t, ax.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, crd.Name, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { return logs.contains(gvr.Group) }, wait, tick,
		"the informer's watch errors are logged through Options.Logger")

	done := doneOf(t, m, key)
	m.Release("a", key)
	assert.Empty(t, m.Keys())
	requireStopped(t, done)
}

func ptrTo[T any](v T) *T { return &v }

// A handler may release its own registration (Release does not wait for the
// informer), and the informer then stops.
func TestReleaseFromHandler(t *testing.T) {
	cs, dc := clients(t)
	ns := devclustertest.Namespace(t)
	m := NewManager(dc, Options{})
	defer m.Stop()

	key := Key{GVR: configMaps, Selector: "release-me=yes"}
	released := make(chan struct{})
	var once sync.Once
	_, err := m.Watch(context.Background(), "a", key, func(ev Event) {
		if ev.Object.GetName() == "trigger" {
			m.Release("a", key)
			once.Do(func() { close(released) })
		}
	})
	require.NoError(t, err)
	done := doneOf(t, m, key)

	createCM(t, cs, ns, "trigger", map[string]string{"release-me": "yes"}, nil)
	requireStopped(t, released)
	assert.Empty(t, m.Keys())
	requireStopped(t, done)
}

// Without a reachable API server, Watch waits SyncTimeout and fails (with the
// last list error when one arrived in time); nothing stays running.
func TestWatchTimesOutWithLastError(t *testing.T) {
	dc, err := dynamic.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	require.NoError(t, err)
	m := NewManager(dc, Options{SyncTimeout: 300 * time.Millisecond})
	defer m.Stop()

	_, err = m.Watch(context.Background(), "a", Key{GVR: configMaps}, func(Event) {})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not synced after 300ms")
	assert.Empty(t, m.Keys())
}
