package progress

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// rgdReader is a Reader of a cluster holding the shop RGD with status.
func rgdReader(status map[string]any) *Reader {
	rgd := shopRGD()
	rgd["status"] = status
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		v1alpha1.ResourceGraphDefinitionResource: "ResourceGraphDefinitionList",
	}, object(rgd))
	return NewReader(dyn, resettable{meta.NewDefaultRESTMapper(nil)})
}

func TestWaitActive(t *testing.T) {
	inactive := func(reason string) map[string]any {
		return map[string]any{"state": "Inactive", "conditions": []any{
			map[string]any{"type": "GraphAccepted", "status": "False", "reason": reason, "message": "unknown kind Table"},
		}}
	}
	for _, tc := range []struct {
		name   string
		status map[string]any
		want   bool
		logged []string
	}{
		{"active", map[string]any{"state": "Active"}, true, []string{"ResourceGraphDefinition shop is Active"}},
		{"refused", inactive(v1alpha1.ReasonInvalidResourceGraph), false, []string{"ResourceGraphDefinition shop is Inactive: unknown kind Table"}},
		{"waiting for a kind", inactive(v1alpha1.ReasonUnknownKind), false, []string{
			"ResourceGraphDefinition shop is Inactive: unknown kind Table",
			"the ResourceGraphDefinitions are not Active after 50ms",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged []string
			log := func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
			got := rgdReader(tc.status).WaitActive(context.Background(), []string{"shop"}, 50*time.Millisecond, 10*time.Millisecond, log)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.logged, logged, "each state once")
		})
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	r := rgdReader(map[string]any{"state": "Active"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var out strings.Builder
	given := object(map[string]any{"apiVersion": "shop.example.com/v1", "kind": "Shop", "metadata": map[string]any{"name": "my-shop"}})
	done := r.Watch(ctx, NewPrinter(&out, false), []*unstructured.Unstructured{object(shopRGD())}, []*unstructured.Unstructured{given}, 10*time.Millisecond)
	assert.Nil(t, done, "the instance never settles")
	assert.Equal(t, "ResourceGraphDefinition shop: Active\n  Shop my-shop: not found\n", out.String(), "each line printed once")
}
