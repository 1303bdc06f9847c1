package instance

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// fakeView is a childView over fixed answers.
type fakeView struct {
	owned    *unstructured.Unstructured
	foreign  bool
	upToDate bool
}

func (v fakeView) Owned(schema.GroupVersionResource, string, string) *unstructured.Unstructured {
	return v.owned
}
func (v fakeView) Foreign(schema.GroupVersionResource, string, string) bool { return v.foreign }
func (v fakeView) UpToDate(_, _ *unstructured.Unstructured) bool            { return v.upToDate }

// TestDecideChild covers every decision about one desired child: create,
// take over when the RGD allows it, refuse a foreign object, refuse another
// instance's child, wait for a deletion, leave an up-to-date child alone,
// and repair drift.
func TestDecideChild(t *testing.T) {
	const me = "uid-me"
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	desired := &unstructured.Unstructured{}
	desired.SetNamespace("team")
	desired.SetName("web-config")
	child := func(instance string, deleting bool) *unstructured.Unstructured {
		u := desired.DeepCopy()
		u.SetLabels(map[string]string{metadata.LabelOwned: "true", metadata.LabelInstanceID: instance})
		if deleting {
			now := metav1.Now()
			u.SetDeletionTimestamp(&now)
		}
		return u
	}
	for _, tc := range []struct {
		name     string
		view     fakeView
		adopt    bool
		want     verdict
		wantLive bool
	}{
		{name: "the name is free", view: fakeView{}, want: verdictCreate},
		{name: "a foreign object, take-over allowed", view: fakeView{foreign: true}, adopt: true, want: verdictAdopt},
		{name: "a foreign object, take-over not allowed", view: fakeView{foreign: true}, want: verdictRefuseForeign},
		{name: "another instance's child", view: fakeView{owned: child("uid-other", false)}, want: verdictRefuseOtherInstance, wantLive: true},
		{name: "another instance's child, even with take-over allowed", view: fakeView{owned: child("uid-other", false)}, adopt: true, want: verdictRefuseOtherInstance, wantLive: true},
		{name: "this instance's child being deleted", view: fakeView{owned: child(me, true)}, want: verdictWaitDeleting, wantLive: true},
		{name: "this instance's child, up to date: no write", view: fakeView{owned: child(me, false), upToDate: true}, want: verdictUpToDate, wantLive: true},
		{name: "this instance's child, drifted or a new desired state", view: fakeView{owned: child(me, false)}, want: verdictApply, wantLive: true},
		{name: "rgd's own child wins over a stale foreign entry", view: fakeView{owned: child(me, false), foreign: true, upToDate: true}, want: verdictUpToDate, wantLive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, live := decideChild(tc.view, gvr, desired, me, tc.adopt)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantLive, live != nil, "the live object comes with the verdict")
		})
	}
}
