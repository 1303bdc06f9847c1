package registrar

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeCRDs is the fake clientset's CRD client, which, like the clientset,
// says that it cannot stream lists.
type fakeCRDs struct{ CRDWatcher }

func (fakeCRDs) IsWatchListSemanticsUnSupported() bool { return true }

func crdClient(cs *fake.Clientset) fakeCRDs {
	return fakeCRDs{cs.ApiextensionsV1().CustomResourceDefinitions()}
}

// thingsCRD is a CRD with the given conditions, its names accepted.
func thingsCRD(conds ...apiextensionsv1.CustomResourceDefinitionConditionType) *apiextensionsv1.CustomResourceDefinition {
	names := apiextensionsv1.CustomResourceDefinitionNames{Plural: "things", Singular: "thing", Kind: "Thing", ListKind: "ThingList"}
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "things.example.com", UID: "uid-1"},
		Spec:       apiextensionsv1.CustomResourceDefinitionSpec{Names: names},
		Status:     apiextensionsv1.CustomResourceDefinitionStatus{AcceptedNames: names},
	}
	for _, c := range conds {
		crd.Status.Conditions = append(crd.Status.Conditions, apiextensionsv1.CustomResourceDefinitionCondition{Type: c, Status: apiextensionsv1.ConditionTrue})
	}
	return crd
}

func TestWaitEstablishedReturnsAtOnceWhenEstablished(t *testing.T) {
	cs := fake.NewClientset() // holds nothing: nothing is read
	crd := thingsCRD(apiextensionsv1.NamesAccepted, apiextensionsv1.Established)
	require.NoError(t, WaitEstablished(context.Background(), crdClient(cs), crd, time.Second))
}

func TestWaitEstablishedWatchesUntilEstablished(t *testing.T) {
	pending := thingsCRD()
	cs := fake.NewClientset(pending)
	api := cs.ApiextensionsV1().CustomResourceDefinitions()
	go func() {
		time.Sleep(100 * time.Millisecond) // after the wait has started watching
		done := thingsCRD(apiextensionsv1.NamesAccepted, apiextensionsv1.Established)
		done.ResourceVersion = "2"
		_, _ = api.UpdateStatus(context.Background(), done, metav1.UpdateOptions{})
	}()
	require.NoError(t, WaitEstablished(context.Background(), crdClient(cs), pending, 30*time.Second))
}

func TestWaitEstablishedGivesUpAfterTimeout(t *testing.T) {
	pending := thingsCRD(apiextensionsv1.NamesAccepted)
	cs := fake.NewClientset(pending)
	err := WaitEstablished(context.Background(), crdClient(cs), pending, 200*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CRD things.example.com not Established after 200ms (conditions: NamesAccepted=True)")
}

func TestWaitEstablishedReportsRefusedNames(t *testing.T) {
	refused := thingsCRD()
	refused.Status.Conditions = []apiextensionsv1.CustomResourceDefinitionCondition{{
		Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionFalse, Reason: "KindConflict", Message: `"Thing" is already in use`,
	}}
	cs := fake.NewClientset(refused)
	err := WaitEstablished(context.Background(), crdClient(cs), refused, time.Minute)
	require.ErrorIs(t, err, ErrNamesNotAccepted)
	assert.Contains(t, err.Error(), "already in use")
}

func TestWaitEstablishedEndsWhenTheCRDIsDeleted(t *testing.T) {
	pending := thingsCRD()
	cs := fake.NewClientset() // already gone
	err := WaitEstablished(context.Background(), crdClient(cs), pending, time.Minute)
	assert.ErrorIs(t, err, errDeleted)
}
