package instance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// TestRetryable pins which failed writes are retried with backoff and which
// wait for a change: only rgd's own refusals and the API server's verdicts
// on the object itself are final.
func TestRetryable(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"internal error", apierrors.NewInternalError(errors.New("boom")), true},
		{"service unavailable", apierrors.NewServiceUnavailable("down"), true},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), true},
		{"server timeout", apierrors.NewServerTimeout(gr, "apply", 1), true},
		{"timeout", apierrors.NewTimeoutError("slow", 1), true},
		{"conflict", apierrors.NewConflict(gr, "a", errors.New("changed")), true},
		{"forbidden (a permission may be granted)", apierrors.NewForbidden(gr, "a", errors.New("no")), true},
		{"connection reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"wrapped internal error", fmt.Errorf("applying: %w", apierrors.NewInternalError(errors.New("boom"))), true},
		{"invalid object", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "a", field.ErrorList{field.Invalid(field.NewPath("data"), 1, "not a string")}), false},
		{"bad request", apierrors.NewBadRequest("malformed"), false},
		{"refused foreign object", &refusedError{msg: "already exists and was not created by rgd"}, false},
		{"wrapped refusal", fmt.Errorf("resource config: %w", &refusedError{msg: "belongs to another instance"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, retryable(tc.err))
		})
	}
}

// TestCreatedEarlier pins when an object that a create found existing is
// taken as this instance's child from an earlier write whose answer was
// lost: this instance's id, and no field manager but rgd's.
func TestCreatedEarlier(t *testing.T) {
	const uid = "inst-uid"
	found := func(instance string, managers ...string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetName("web-config")
		if instance != "" {
			u.SetLabels(map[string]string{metadata.LabelInstanceID: instance})
		}
		var entries []metav1.ManagedFieldsEntry
		for _, m := range managers {
			entries = append(entries, metav1.ManagedFieldsEntry{Manager: m, Operation: metav1.ManagedFieldsOperationApply})
		}
		u.SetManagedFields(entries)
		return u
	}
	p := &pass{inst: &unstructured.Unstructured{}}
	p.inst.SetUID(types.UID(uid))
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want bool
	}{
		{"rgd's alone, this instance", found(uid, metadata.FieldManagerChildren), true},
		{"someone else's object rgd's apply merged into", found(uid, "kubectl", metadata.FieldManagerChildren), false},
		{"another instance's", found("other-uid", metadata.FieldManagerChildren), false},
		{"no instance label", found("", metadata.FieldManagerChildren), false},
		{"no managed fields at all", found(uid), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, p.createdEarlier(tc.obj))
		})
	}
}
