package registrar

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/pkg/crdgen"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

func TestMain(m *testing.M) { devclustertest.Main(m, devcluster.Options{}) }

// env is what an integration test needs: a registrar on the shared control
// plane, a raw client to check the results, and an API group of its own.
type env struct {
	r     *Registrar
	cs    apiextensionsclientset.Interface
	group string
}

func newEnv(t *testing.T) env {
	t.Helper()
	devclustertest.RequireCluster(t)
	cs, err := apiextensionsclientset.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	group := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + ".test.rgd.dev"
	// A generous timeout: tests that expect a prompt failure must not pass by timing out.
	return env{r: New(cs, Options{EstablishTimeout: 2 * time.Minute}), cs: cs, group: group}
}

func (e env) get(t *testing.T, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd, err := e.cs.ApiextensionsV1().CustomResourceDefinitions().Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return crd
}

// cleanup removes the CRD at the end of the test, whoever owns it, and waits
// until it is gone, so that a repeated run (-count) starts clean.
func (e env) cleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		err := e.cs.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("deleting CRD %s: %v", name, err)
			return
		}
		e.waitGone(t, name)
	})
}

// waitGone polls, with a deadline, until the CRD no longer exists.
func (e env) waitGone(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := e.cs.ApiextensionsV1().CustomResourceDefinitions().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		require.NoError(t, err)
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s still exists after a minute", name)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline above
	}
}

// waitEstablished polls, with a deadline, until the CRD is Established.
func (e env) waitEstablished(t *testing.T, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		crd := e.get(t, name)
		if isEstablished(crd) {
			return crd
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not Established after a minute: %+v", name, crd.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline above
	}
}

func isEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	done, err := establishState(crd, nil)
	return done && err == nil
}

var web = Owner{Name: "web", UID: "uid-1"}

func TestEnsureCreatesServesAndThenWritesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desired := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	e.cleanup(t, desired.Name)

	changed, err := e.r.Ensure(ctx, desired, web)
	require.NoError(t, err)
	assert.True(t, changed)

	got := e.get(t, desired.Name)
	assert.True(t, isEstablished(got), "Ensure returns once Established: %+v", got.Status.Conditions)
	assert.Equal(t, "true", got.Labels[metadata.LabelOwned])
	assert.Equal(t, "web", got.Labels[metadata.LabelRGDName])
	assert.Equal(t, "uid-1", got.Labels[metadata.LabelRGDID])

	// The kind is served at once, watches included: an informer started now
	// is not told to come back in a second.
	assert.False(t, watchRefused(ctx, e.cs.ApiextensionsV1().RESTClient(), e.group, "v1alpha1", "websites"),
		"a watch of the new kind is refused with 429 after Ensure")
	dyn, err := dynamic.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	ns := devclustertest.Namespace(t)
	gvr := schema.GroupVersionResource{Group: e.group, Version: "v1alpha1", Resource: "websites"}
	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": e.group + "/v1alpha1", "kind": "Website",
		"metadata": map[string]any{"name": "one"},
		"spec":     map[string]any{"name": "hello"},
	}}
	_, err = dyn.Resource(gvr).Namespace(ns).Create(ctx, inst, metav1.CreateOptions{})
	require.NoError(t, err)

	// A second Ensure, even from a freshly generated CRD, writes nothing.
	again := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	changed, err = e.r.Ensure(ctx, again, web)
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, got.ResourceVersion, e.get(t, desired.Name).ResourceVersion)
}

func TestEnsureKeepsOtherLabelsAndAnnotations(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desired := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	e.cleanup(t, desired.Name)
	_, err := e.r.Ensure(ctx, desired, web)
	require.NoError(t, err)

	crds := e.cs.ApiextensionsV1().CustomResourceDefinitions()
	patch := `{"metadata":{"labels":{"team":"blue"},"annotations":{"note":"kept"}}}`
	_, err = crds.Patch(ctx, desired.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
	rv := e.get(t, desired.Name).ResourceVersion

	changed, err := e.r.Ensure(ctx, desired, web)
	require.NoError(t, err)
	assert.False(t, changed, "labels and annotations rgd does not manage are not a difference")
	assert.Equal(t, rv, e.get(t, desired.Name).ResourceVersion)

	changed, err = e.r.Ensure(ctx, genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string", "x": "string"})), web)
	require.NoError(t, err)
	assert.True(t, changed)
	got := e.get(t, desired.Name)
	assert.Equal(t, "blue", got.Labels["team"])
	assert.Equal(t, "kept", got.Annotations["note"])
}

func TestEnsureAppliesNonBreakingChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v1 := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}, "name"))
	e.cleanup(t, v1.Name)
	_, err := e.r.Ensure(ctx, v1, web)
	require.NoError(t, err)
	before := e.get(t, v1.Name).ResourceVersion

	v2 := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string", "replicas": "integer"}, "name"))
	changed, err := e.r.Ensure(ctx, v2, web)
	require.NoError(t, err)
	assert.True(t, changed)

	got := e.get(t, v1.Name)
	assert.NotEqual(t, before, got.ResourceVersion)
	assert.Contains(t, got.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties, "replicas")
	assert.True(t, isEstablished(got))
}

// A CRD generated before the default printer columns had descriptions is
// updated in place: the new descriptions are no breaking change.
func TestEnsureAddsPrinterColumnDescriptions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	for i := range old.Spec.Versions[0].AdditionalPrinterColumns {
		old.Spec.Versions[0].AdditionalPrinterColumns[i].Description = ""
	}
	e.cleanup(t, old.Name)
	_, err := e.r.Ensure(ctx, old, web)
	require.NoError(t, err)
	before := e.get(t, old.Name)

	changed, err := e.r.Ensure(ctx, genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"})), web)
	require.NoError(t, err)
	assert.True(t, changed)
	got := e.get(t, old.Name)
	assert.Equal(t, before.UID, got.UID, "updated in place")
	descriptions := map[string]string{}
	for _, c := range got.Spec.Versions[0].AdditionalPrinterColumns {
		descriptions[c.Name] = c.Description
	}
	assert.Equal(t, map[string]string{
		"State": "The state of a ResourceGraphDefinition instance",
		"Ready": "Whether a ResourceGraphDefinition instance is ready",
		"Age":   "Age of the resource",
	}, descriptions)
}

func TestEnsureBreakingChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v1 := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string", "port": "integer"}))
	e.cleanup(t, v1.Name)
	_, err := e.r.Ensure(ctx, v1, web)
	require.NoError(t, err)
	before := e.get(t, v1.Name)

	// Removing a field and changing a type, plus a harmless addition.
	v2 := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "integer", "extra": "string"}))
	changed, err := e.r.Ensure(ctx, v2, web)
	require.Error(t, err)
	assert.False(t, changed)
	var bce *BreakingChangeError
	require.ErrorAs(t, err, &bce)
	types := map[string]crdgen.ChangeType{}
	for _, c := range bce.Report.BreakingChanges() {
		types[c.Path] = c.Type
	}
	assert.Equal(t, map[string]crdgen.ChangeType{"spec.name": crdgen.TypeChanged, "spec.port": crdgen.PropertyRemoved}, types)
	assert.Contains(t, err.Error(), "spec.port: PROPERTY_REMOVED")
	assert.Contains(t, err.Error(), "spec.name: TYPE_CHANGED")
	assert.Equal(t, before.ResourceVersion, e.get(t, v1.Name).ResourceVersion, "a refused change writes nothing")

	allowed := web
	allowed.AllowBreakingChanges = true
	changed, err = e.r.Ensure(ctx, v2, allowed)
	require.NoError(t, err)
	assert.True(t, changed)
	props := e.get(t, v1.Name).Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties
	assert.NotContains(t, props, "port")
	assert.Equal(t, "integer", props["name"].Type)
}

func TestEnsureRefusesForeignCRD(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desired := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	e.cleanup(t, desired.Name)

	foreign := desired.DeepCopy()
	foreign.Labels = map[string]string{"owner": "someone-else"}
	foreign.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTo(true)}
	_, err := e.cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, foreign, metav1.CreateOptions{})
	require.NoError(t, err)
	before := e.waitEstablished(t, desired.Name) // the API server's own status writes are done

	changed, err := e.r.Ensure(ctx, desired, web)
	require.ErrorIs(t, err, ErrNotOwned)
	assert.False(t, changed)
	assert.Contains(t, err.Error(), desired.Name)
	after := e.get(t, desired.Name)
	assert.Equal(t, before.ResourceVersion, after.ResourceVersion, "never touched")
	assert.Equal(t, map[string]string{"owner": "someone-else"}, after.Labels)

	require.ErrorIs(t, e.r.Delete(ctx, desired.Name, web), ErrNotOwned)
	assert.Equal(t, before.ResourceVersion, e.get(t, desired.Name).ResourceVersion, "never deleted")
}

func TestEnsureRefusesCRDOfAnotherRGD(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desired := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	e.cleanup(t, desired.Name)
	_, err := e.r.Ensure(ctx, desired, web)
	require.NoError(t, err)
	before := e.get(t, desired.Name).ResourceVersion

	other := Owner{Name: "intruder", UID: "uid-9", AllowBreakingChanges: true}
	changed, err := e.r.Ensure(ctx, genCRD(t, e.group, "Website", "intruder", nil), other)
	require.ErrorIs(t, err, ErrOwnedByOther)
	assert.False(t, changed)
	assert.Contains(t, err.Error(), `ResourceGraphDefinition "web"`)

	require.ErrorIs(t, e.r.Delete(ctx, desired.Name, other), ErrOwnedByOther)
	assert.Equal(t, before, e.get(t, desired.Name).ResourceVersion)
}

func TestEnsureAdoptsCRDOfRecreatedRGD(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desired := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	e.cleanup(t, desired.Name)
	_, err := e.r.Ensure(ctx, desired, web)
	require.NoError(t, err)

	recreated := Owner{Name: "web", UID: "uid-2"}
	changed, err := e.r.Ensure(ctx, desired, recreated)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "uid-2", e.get(t, desired.Name).Labels[metadata.LabelRGDID])

	changed, err = e.r.Ensure(ctx, desired, recreated)
	require.NoError(t, err)
	assert.False(t, changed)
}

func TestEnsureReportsNamesConflictPromptly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := genCRD(t, e.group, "Website", "web", nil, "site")
	second := genCRD(t, e.group, "Webpage", "pages", nil, "site")
	e.cleanup(t, first.Name)
	e.cleanup(t, second.Name)
	_, err := e.r.Ensure(ctx, first, web)
	require.NoError(t, err)

	// With a two-minute EstablishTimeout, the error must come from the
	// NamesAccepted condition, not from the deadline.
	changed, err := e.r.Ensure(ctx, second, Owner{Name: "pages", UID: "uid-p"})
	require.ErrorIs(t, err, ErrNamesNotAccepted)
	assert.True(t, changed, "the CRD was created before the server refused its names")
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), `"site" is already in use`)

	// A later Ensure sees the same refusal at once.
	changed, err = e.r.Ensure(ctx, second, Owner{Name: "pages", UID: "uid-p"})
	require.ErrorIs(t, err, ErrNamesNotAccepted)
	assert.False(t, changed)

	// New names that still conflict are refused at once too, although the
	// server keeps the same condition and does not write the status again.
	stillBad := genCRD(t, e.group, "Webpage", "pages", nil, "site", "pg")
	changed, err = e.r.Ensure(ctx, stillBad, Owner{Name: "pages", UID: "uid-p"})
	require.ErrorIs(t, err, ErrNamesNotAccepted)
	assert.True(t, changed)
	assert.Contains(t, err.Error(), `"site" is already in use`)

	// Fixing the names is an update that waits for the new names to be accepted.
	fixed := genCRD(t, e.group, "Webpage", "pages", nil, "page")
	changed, err = e.r.Ensure(ctx, fixed, Owner{Name: "pages", UID: "uid-p"})
	require.NoError(t, err)
	assert.True(t, changed)
	got := e.get(t, second.Name)
	assert.True(t, isEstablished(got), "%+v", got.Status)
	assert.Equal(t, []string{"page"}, got.Status.AcceptedNames.ShortNames)
}

func TestEnsureConcurrentCallsCreateOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desired := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	e.cleanup(t, desired.Name)

	const n = 4
	var wg sync.WaitGroup
	changed := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { changed[i], errs[i] = e.r.Ensure(ctx, desired, web) })
	}
	wg.Wait()
	writes := 0
	for i := range n {
		require.NoError(t, errs[i], "call %d", i)
		if changed[i] {
			writes++
		}
	}
	assert.Equal(t, 1, writes, "exactly one call creates the CRD; the others find it as desired")
}

func TestEnsureRefusesCRDBeingDeleted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desired := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	e.cleanup(t, desired.Name)
	_, err := e.r.Ensure(ctx, desired, web)
	require.NoError(t, err)

	// A finalizer of our own keeps the CRD in deletion.
	crds := e.cs.ApiextensionsV1().CustomResourceDefinitions()
	hold := `{"metadata":{"finalizers":["test.rgd.dev/hold"]}}`
	_, err = crds.Patch(ctx, desired.Name, types.MergePatchType, []byte(hold), metav1.PatchOptions{})
	require.NoError(t, err)
	require.NoError(t, e.r.Delete(ctx, desired.Name, web))
	t.Cleanup(func() {
		_, err := crds.Patch(context.Background(), desired.Name, types.JSONPatchType,
			[]byte(`[{"op":"remove","path":"/metadata/finalizers/0"}]`), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("removing the test finalizer: %v", err)
		}
	})
	require.NotNil(t, e.get(t, desired.Name).DeletionTimestamp)

	changed, err := e.r.Ensure(ctx, desired, web)
	require.ErrorIs(t, err, ErrBeingDeleted)
	assert.False(t, changed)
	assert.NoError(t, e.r.Delete(ctx, desired.Name, web), "deleting a CRD already in deletion is success")
}

func TestDeleteOnlyOwned(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	desired := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"name": "string"}))
	e.cleanup(t, desired.Name)

	require.NoError(t, e.r.Delete(ctx, desired.Name, web), "an absent CRD is success")

	_, err := e.r.Ensure(ctx, desired, web)
	require.NoError(t, err)
	require.ErrorIs(t, e.r.Delete(ctx, desired.Name, Owner{Name: "db"}), ErrOwnedByOther)
	e.get(t, desired.Name)

	// The owner deletes it, also after a re-creation that did not adopt it yet.
	require.NoError(t, e.r.Delete(ctx, desired.Name, Owner{Name: "web", UID: "uid-new"}))
	e.waitGone(t, desired.Name)
	require.NoError(t, e.r.Delete(ctx, desired.Name, web))
}

func TestEnsureCanceledContext(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	desired := genCRD(t, e.group, "Website", "web", nil)
	e.cleanup(t, desired.Name)
	_, err := e.r.Ensure(ctx, desired, web)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

func ptrTo[T any](v T) *T { return &v }

// Example-style check that the error of a refused breaking change is readable.
func TestBreakingChangeErrorMessageOnCluster(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v1 := genCRD(t, e.group, "Website", "web", specSchema(map[string]string{"port": "integer"}))
	e.cleanup(t, v1.Name)
	_, err := e.r.Ensure(ctx, v1, web)
	require.NoError(t, err)
	_, err = e.r.Ensure(ctx, genCRD(t, e.group, "Website", "web", nil), web)
	require.Error(t, err)
	want := fmt.Sprintf("CRD websites.%s: 1 breaking schema change(s) refused", e.group)
	assert.Contains(t, err.Error(), want)
}
