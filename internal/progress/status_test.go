package progress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run %s ./internal/progress -update to create it", t.Name())
	assert.Equal(t, string(want), got)
}

// now is 3m12s after the test instance's conditions last changed.
var now = transitioned.Add(3*time.Minute + 12*time.Second)

// judgedTurnstile is the instance t1 as `rgd status` reads it: first
// ready, gate's readyWhen false, after waiting on gate, extra excluded.
func judgedTurnstile(t *testing.T) Instance {
	t.Helper()
	in, err := turnstileCluster(t, false).InstanceStatus(context.Background(), Target{Resource: turnstileGVR, Kind: "Turnstile", Namespace: "default", Name: "t1"})
	require.NoError(t, err)
	require.True(t, in.Judged, in.GraphError)
	return in
}

func TestRenderInstanceStatusGolden(t *testing.T) {
	text := joinLines(RenderStatus(Status{Instance: ptr(judgedTurnstile(t))}, now))
	golden(t, "status-instance.txt", text)
	assert.Contains(t, text, "since 3m12s")
	assert.Contains(t, text, `readyWhen ${gate.data.state == "open"} is false`)
	assert.Contains(t, text, "waiting on gate")
}

func TestEncodeInstanceStatusGolden(t *testing.T) {
	s := Status{Instance: ptr(judgedTurnstile(t))}
	var js, ym bytes.Buffer
	require.NoError(t, EncodeStatus(&js, s, FormatJSON))
	require.NoError(t, EncodeStatus(&ym, s, FormatYAML))
	golden(t, "status-instance.json", js.String())
	golden(t, "status-instance.yaml", ym.String())

	// The documented shape, read back as a script would.
	var doc struct {
		Kind, Namespace, Name, State, Ready string
		Resources                           []struct {
			ID      string
			Ready   bool
			Blocked *struct{ Reason, Expression string }
		}
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	assert.Equal(t, "Turnstile", doc.Kind)
	assert.Equal(t, "IN_PROGRESS", doc.State)
	assert.Equal(t, "False", doc.Ready)
	require.Len(t, doc.Resources, 4)
	assert.True(t, doc.Resources[0].Ready)
	assert.Equal(t, "ReadyWhen", doc.Resources[1].Blocked.Reason)
	assert.Equal(t, `gate.data.state == "open"`, doc.Resources[1].Blocked.Expression)
	var fromYAML map[string]any
	require.NoError(t, yaml.Unmarshal(ym.Bytes(), &fromYAML))
	var fromJSON map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &fromJSON))
	assert.Equal(t, fromJSON, fromYAML, "YAML and JSON are the same document")
}

func TestRenderUnjudgedAndMissing(t *testing.T) {
	in := Instance{Kind: "Turnstile", Namespace: "default", Name: "t1", Found: true, State: v1alpha1.InstanceStateActive,
		GraphError: "resource odd: unknown kind\n  Odd",
		Resources:  []Resource{{ID: "odd", Kind: "Odd", Name: "odd", State: ResourceWaiting}}}
	assert.Equal(t, []string{
		"Turnstile default/t1: ACTIVE",
		"Readiness not judged: resource odd: unknown kind Odd",
		"",
		"RESOURCE  OBJECT   STATE    READY  WAITING ON",
		"odd       Odd/odd  waiting  ?",
	}, texts(RenderInstanceStatus(in, now)))
	assert.Equal(t, []string{"Turnstile default/gone: not found"}, texts(RenderInstanceStatus(Instance{Kind: "Turnstile", Namespace: "default", Name: "gone"}, now)))
}

func TestRGDStatusCountsInstancesByState(t *testing.T) {
	rgd := turnstileRGD(t, false)
	require.NoError(t, unstructured.SetNestedField(rgd.Object, map[string]any{
		"state": "Active",
		"conditions": []any{
			map[string]any{"type": "GraphAccepted", "status": "True", "reason": "Accepted", "message": "graph accepted", "lastTransitionTime": transitioned.Format("2006-01-02T15:04:05Z")},
			map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": transitioned.Format("2006-01-02T15:04:05Z")},
		},
	}, "status"))
	instance := func(name, state string) runtime.Object {
		u := object(map[string]any{"apiVersion": "kro.run/v1alpha1", "kind": "Turnstile", "metadata": map[string]any{"name": name, "namespace": "ns-" + name}})
		if state != "" {
			u.Object["status"] = map[string]any{"state": state}
		}
		return u
	}
	r := turnstileCluster(t, false, instance("a", "ACTIVE"), instance("b", "ACTIVE"), instance("c", "ERROR"), instance("d", ""), instance("e", "SOMETHING"))
	_, err := r.dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Update(context.Background(), rgd, metav1.UpdateOptions{})
	require.NoError(t, err)

	got, err := r.RGDStatus(context.Background(), "turnstile")
	require.NoError(t, err)
	assert.True(t, got.Healthy())
	assert.Equal(t, "Turnstile.kro.run", got.InstanceKind)
	assert.Equal(t, []StateCount{{"ACTIVE", 2}, {"IN_PROGRESS", 1}, {"ERROR", 1}, {"SOMETHING", 1}, {"", 1}}, got.InstancesByState,
		"t1 (IN_PROGRESS) in default and the five others, in every namespace")
	golden(t, "status-rgd.txt", joinLines(RenderStatus(Status{RGD: &got}, now)))

	_, err = r.RGDStatus(context.Background(), "nope")
	var nf *NotFoundError
	require.ErrorAs(t, err, &nf)
}

func TestHealthy(t *testing.T) {
	in := Instance{Found: true, State: v1alpha1.InstanceStateActive, Ready: metav1.ConditionTrue}
	assert.True(t, Status{Instance: &in}.Healthy())
	for _, bad := range []Instance{
		{Found: true, State: v1alpha1.InstanceStateActive, Ready: metav1.ConditionFalse},
		{Found: true, State: v1alpha1.InstanceStateInProgress, Ready: metav1.ConditionTrue},
		{State: v1alpha1.InstanceStateActive, Ready: metav1.ConditionTrue},
	} {
		assert.False(t, Status{Instance: &bad}.Healthy(), "%+v", bad)
	}
	ready := func(s metav1.ConditionStatus) RGD {
		return RGD{Conditions: []v1alpha1.Condition{{Type: v1alpha1.ConditionReady, Status: s}}}
	}
	assert.True(t, Status{RGD: ptr(ready(metav1.ConditionTrue))}.Healthy())
	assert.False(t, Status{RGD: ptr(ready(metav1.ConditionFalse))}.Healthy())
	assert.False(t, Status{RGD: &RGD{State: v1alpha1.StateActive}}.Healthy(), "no Ready condition yet")
	assert.False(t, Status{}.Healthy())
}

func TestResolve(t *testing.T) {
	r := turnstileCluster(t, false)
	for _, typ := range []string{"turnstiles", "turnstile", "Turnstile", "turnstiles.kro.run", "turnstiles.v1alpha1.kro.run"} {
		got, err := r.Resolve(typ, "t1", "")
		require.NoError(t, err, typ)
		assert.Equal(t, Target{Resource: turnstileGVR, Kind: "Turnstile", Namespace: "default", Name: "t1"}, got, typ)
	}
	got, err := r.Resolve("turnstiles", "t1", "prod")
	require.NoError(t, err)
	assert.Equal(t, "prod", got.Namespace)
	for _, typ := range []string{"rgd", "rgds", "resourcegraphdefinition", "ResourceGraphDefinitions.kro.run"} {
		got, err := r.Resolve(typ, "turnstile", "prod")
		require.NoError(t, err, typ)
		assert.Equal(t, Target{RGD: "turnstile"}, got, typ)
	}
	_, err = r.Resolve("gizmos", "x", "")
	var nf *NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.True(t, meta.IsNoMatchError(errors.Unwrap(err)), "the mapper's error: %v", err)
}

func TestStatusOutputPlainPrintsChangedReadings(t *testing.T) {
	var out, errOut bytes.Buffer
	o, err := NewStatusOutput(&out, &errOut, FormatText, false)
	require.NoError(t, err)
	in := judgedTurnstile(t)
	require.NoError(t, o.Show(Status{Instance: &in}, nil, now))
	first := out.String()
	require.NoError(t, o.Show(Status{Instance: &in}, nil, now.Add(time.Minute)))
	assert.Equal(t, first, out.String(), "nothing changed but the ages: nothing printed")
	in2 := in
	in2.State = v1alpha1.InstanceStateActive
	require.NoError(t, o.Show(Status{Instance: &in2}, nil, now))
	assert.True(t, strings.HasPrefix(out.String()[len(first):], "\nTurnstile default/t1: ACTIVE"), "a new block after a blank line: %q", out.String()[len(first):])
	require.NoError(t, o.Show(Status{}, errors.New("connection refused"), now))
	assert.True(t, strings.HasSuffix(out.String(), "rgd status: connection refused\n"))
	assert.NotContains(t, out.String(), "\x1b", "no escape codes off a terminal")
	assert.Empty(t, errOut.String())
}

func TestStatusOutputYAMLSeparatesDocuments(t *testing.T) {
	var out, errOut bytes.Buffer
	o, err := NewStatusOutput(&out, &errOut, FormatYAML, true)
	require.NoError(t, err)
	in := judgedTurnstile(t)
	require.NoError(t, o.Show(Status{Instance: &in}, nil, now))
	require.NoError(t, o.Show(Status{Instance: &in}, nil, now))
	in2 := in
	in2.State = v1alpha1.InstanceStateActive
	require.NoError(t, o.Show(Status{Instance: &in2}, nil, now))
	assert.Equal(t, 1, strings.Count(out.String(), "---\n"), "two documents")
	require.NoError(t, o.Show(Status{}, errors.New("connection refused"), now))
	assert.Equal(t, "rgd status: connection refused\n", errOut.String(), "errors stay out of the documents")

	_, err = NewStatusOutput(&out, &errOut, "wide", false)
	assert.ErrorContains(t, err, "want text, json or yaml")
}

func TestStatusOutputTerminalRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	o, err := NewStatusOutput(&out, &out, FormatText, true)
	require.NoError(t, err)
	in := judgedTurnstile(t)
	require.NoError(t, o.Show(Status{Instance: &in}, nil, now))
	lines := strings.Count(out.String(), "\n")
	out.Reset()
	require.NoError(t, o.Show(Status{Instance: &in}, nil, now.Add(time.Minute)))
	assert.True(t, strings.HasPrefix(out.String(), "\x1b["), "moves up over what it drew: %q", out.String())
	assert.Contains(t, out.String(), "since 4m12s", "the ages go on")
	assert.Equal(t, lines, strings.Count(out.String(), "\n"))
}

func joinLines(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }
