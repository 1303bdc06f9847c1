package registrar

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rgd-dev/rgd/pkg/crdgen"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

func TestEnsureRejectsBadArguments(t *testing.T) {
	r := New(fake.NewClientset(), Options{})
	_, err := r.Ensure(context.Background(), nil, Owner{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "crd: Required value")
	assert.Contains(t, err.Error(), "owner.name: Required value")

	_, err = r.Ensure(context.Background(), &apiextensionsv1.CustomResourceDefinition{}, Owner{Name: "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "crd.metadata.name: Required value")

	err = r.Delete(context.Background(), "", Owner{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "name: Required value")
	assert.Contains(t, err.Error(), "owner.name: Required value")
}

func TestCheckOwner(t *testing.T) {
	crd := func(labels map[string]string) *apiextensionsv1.CustomResourceDefinition {
		return &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "things.example.com", Labels: labels}}
	}
	owner := Owner{Name: "web", UID: "u2"}

	_, err := checkOwner(crd(nil), owner)
	assert.ErrorIs(t, err, ErrNotOwned)
	_, err = checkOwner(crd(map[string]string{metadata.LabelOwned: "false", metadata.LabelRGDName: "web"}), owner)
	assert.ErrorIs(t, err, ErrNotOwned)

	_, err = checkOwner(crd(map[string]string{metadata.LabelOwned: "true", metadata.LabelRGDName: "db"}), owner)
	require.ErrorIs(t, err, ErrOwnedByOther)
	assert.Contains(t, err.Error(), `"db"`)
	_, err = checkOwner(crd(map[string]string{metadata.LabelOwned: "true"}), owner)
	assert.ErrorIs(t, err, ErrOwnedByOther)

	adopt, err := checkOwner(crd(map[string]string{metadata.LabelOwned: "true", metadata.LabelRGDName: "web", metadata.LabelRGDID: "u1"}), owner)
	require.NoError(t, err)
	assert.True(t, adopt, "another UID is adopted")
	adopt, err = checkOwner(crd(map[string]string{metadata.LabelOwned: "true", metadata.LabelRGDName: "web", metadata.LabelRGDID: "u2"}), owner)
	require.NoError(t, err)
	assert.False(t, adopt)
	adopt, err = checkOwner(crd(map[string]string{metadata.LabelOwned: "true", metadata.LabelRGDName: "web", metadata.LabelRGDID: "u1"}), Owner{Name: "web"})
	require.NoError(t, err)
	assert.False(t, adopt, "an owner without UID adopts nothing")
}

func TestMergeInto(t *testing.T) {
	desired := desiredCRD(genCRD(t, "example.com", "Thing", "web", specSchema(map[string]string{"a": "string"})), Owner{Name: "web", UID: "u1"})

	// The server's copy: the desired CRD plus someone else's label, annotation and status.
	existing := desired.DeepCopy()
	existing.ResourceVersion = "7"
	existing.Labels["team"] = "blue"
	existing.Annotations = map[string]string{"note": "kept"}
	existing.Status.AcceptedNames = existing.Spec.Names

	got, needed := mergeInto(existing, desired)
	assert.False(t, needed, "extra labels and annotations are not a difference")
	assert.Same(t, existing, got)

	changed := desiredCRD(genCRD(t, "example.com", "Thing", "web", specSchema(map[string]string{"a": "string", "b": "integer"})), Owner{Name: "web", UID: "u2"})
	changed.Annotations = map[string]string{"rgd": "yes"}
	got, needed = mergeInto(existing, changed)
	require.True(t, needed)
	assert.Equal(t, "7", got.ResourceVersion, "the update carries the resourceVersion read")
	assert.Equal(t, "blue", got.Labels["team"])
	assert.Equal(t, "u2", got.Labels[metadata.LabelRGDID])
	assert.Equal(t, map[string]string{"note": "kept", "rgd": "yes"}, got.Annotations)
	assert.Contains(t, got.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties, "b")
	assert.NotContains(t, existing.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties, "b", "existing is not modified")
}

func TestDesiredCRDDoesNotModifyInput(t *testing.T) {
	in := genCRD(t, "example.com", "Thing", "web", nil)
	before := in.DeepCopy()
	out := desiredCRD(in, Owner{Name: "web", UID: "u1"})
	assert.Equal(t, before, in)
	assert.Equal(t, "u1", out.Labels[metadata.LabelRGDID])
	assert.Equal(t, "true", out.Labels[metadata.LabelOwned])
	assert.Equal(t, apiextensionsv1.NoneConverter, out.Spec.Conversion.Strategy, "API defaults applied")
}

func TestEstablishState(t *testing.T) {
	names := apiextensionsv1.CustomResourceDefinitionNames{Plural: "things", Singular: "thing", Kind: "Thing", ListKind: "ThingList"}
	crd := func(accepted apiextensionsv1.CustomResourceDefinitionNames, conds ...apiextensionsv1.CustomResourceDefinitionCondition) *apiextensionsv1.CustomResourceDefinition {
		return &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: "things.example.com"},
			Spec:       apiextensionsv1.CustomResourceDefinitionSpec{Names: names},
			Status:     apiextensionsv1.CustomResourceDefinitionStatus{AcceptedNames: accepted, Conditions: conds},
		}
	}
	cond := func(t apiextensionsv1.CustomResourceDefinitionConditionType, s apiextensionsv1.ConditionStatus) apiextensionsv1.CustomResourceDefinitionCondition {
		return apiextensionsv1.CustomResourceDefinitionCondition{Type: t, Status: s, Reason: "R", Message: "msg"}
	}
	T, F := apiextensionsv1.ConditionTrue, apiextensionsv1.ConditionFalse

	done, err := establishState(crd(apiextensionsv1.CustomResourceDefinitionNames{}), nil)
	assert.False(t, done)
	assert.NoError(t, err)

	done, err = establishState(crd(names, cond(apiextensionsv1.NamesAccepted, T), cond(apiextensionsv1.Established, T)), nil)
	assert.True(t, done)
	assert.NoError(t, err)

	old := names
	old.ShortNames = []string{"th"}
	done, err = establishState(crd(old, cond(apiextensionsv1.NamesAccepted, T), cond(apiextensionsv1.Established, T)), nil)
	assert.False(t, done, "names not yet the accepted ones")
	assert.NoError(t, err)

	done, err = establishState(crd(names, cond(apiextensionsv1.NamesAccepted, T), cond(apiextensionsv1.Established, F)), nil)
	assert.False(t, done)
	assert.NoError(t, err)

	refused := crd(old, cond(apiextensionsv1.NamesAccepted, F))
	_, err = establishState(refused, nil)
	require.ErrorIs(t, err, ErrNamesNotAccepted)
	assert.Contains(t, err.Error(), "msg")

	// The same refusal, left over from names since replaced, is pending.
	stale := refused.Status.Conditions[0].DeepCopy()
	done, err = establishState(refused, stale)
	assert.False(t, done)
	assert.NoError(t, err)
	fresh := refused.DeepCopy()
	fresh.Status.Conditions[0].Message = "another verdict"
	_, err = establishState(fresh, stale)
	assert.ErrorIs(t, err, ErrNamesNotAccepted)
}

func TestBreakingChangeErrorListsChanges(t *testing.T) {
	old := genCRD(t, "example.com", "Thing", "web", specSchema(map[string]string{"a": "string", "b": "integer"}))
	changed := genCRD(t, "example.com", "Thing", "web", specSchema(map[string]string{"a": "integer", "c": "string"}))
	err := error(&BreakingChangeError{CRD: old.Name, Report: crdgen.Compare(old, changed)})
	msg := err.Error()
	assert.Contains(t, msg, "things.example.com: 2 breaking schema change(s) refused")
	assert.Contains(t, msg, "spec.a: TYPE_CHANGED")
	assert.Contains(t, msg, "spec.b: PROPERTY_REMOVED")
	assert.NotContains(t, msg, "PROPERTY_ADDED", "non-breaking changes are not listed")
	assert.Contains(t, msg, metadata.AnnotationAllowBreakingChanges)
	var bce *BreakingChangeError
	assert.True(t, errors.As(err, &bce))
}
