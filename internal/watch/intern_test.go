package watch

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// decodedChild is a child as an informer receives it: freshly decoded, so
// that no string is shared with any other object.
func decodedChild(t testing.TB, i int) *unstructured.Unstructured {
	raw := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app-%d-config","namespace":"team-a",
	"uid":"0000-%d","resourceVersion":"%d","creationTimestamp":"2026-11-24T19:16:52Z",
	"labels":{"kro.run/owned":"true","kro.run/instance-name":"app-%d","kro.run/resource-graph-definition-name":"webapp"}},
	"data":{"value":"v1","list":["a","b"],"nested":{"deep":"x"}, "n": 3}}`, i, i, i, i)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON([]byte(raw)))
	return u
}

func sameBytes(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// TestInternKeepsContentAndSharesStrings checks that trimming interns field
// names and labels without changing the object, and leaves other values
// alone.
func TestInternKeepsContentAndSharesStrings(t *testing.T) {
	a, b := decodedChild(t, 1), decodedChild(t, 2)
	want := a.DeepCopy()
	for _, u := range []*unstructured.Unstructured{a, b} {
		_, err := trim(u)
		require.NoError(t, err)
	}
	assert.Equal(t, want.Object, a.Object, "interning changes no content")

	keyOf := func(m map[string]any, k string) string {
		for key := range m {
			if key == k {
				return key
			}
		}
		t.Fatalf("no key %s", k)
		return ""
	}
	la := a.Object["metadata"].(map[string]any)["labels"].(map[string]any)
	lb := b.Object["metadata"].(map[string]any)["labels"].(map[string]any)
	assert.True(t, sameBytes(keyOf(la, "kro.run/owned"), keyOf(lb, "kro.run/owned")), "label keys are shared")
	assert.True(t, sameBytes(la["kro.run/resource-graph-definition-name"].(string), lb["kro.run/resource-graph-definition-name"].(string)), "label values are shared")
	assert.True(t, sameBytes(keyOf(a.Object, "apiVersion"), keyOf(b.Object, "apiVersion")), "field names are shared")
	da, db := a.Object["data"].(map[string]any), b.Object["data"].(map[string]any)
	nested := func(m map[string]any) map[string]any { return m["nested"].(map[string]any) }
	assert.True(t, sameBytes(keyOf(nested(da), "deep"), keyOf(nested(db), "deep")), "nested field names are shared")

	// Other values, mostly different on every object, are left alone.
	assert.False(t, sameBytes(da["value"].(string), db["value"].(string)))
}

func TestInternKeysIsBounded(t *testing.T) {
	keys.Lock()
	saved := keys.m
	keys.m = map[string]string{}
	for i := range maxKeys {
		keys.m[fmt.Sprint("k", i)] = fmt.Sprint("k", i)
	}
	keys.Unlock()
	t.Cleanup(func() { keys.Lock(); keys.m = saved; keys.Unlock() })

	fresh := string([]byte("not-in-the-table"))
	assert.Equal(t, fresh, internKey(fresh))
	keys.RLock()
	defer keys.RUnlock()
	assert.Len(t, keys.m, maxKeys, "a full table takes no more keys")
}

func BenchmarkTrimChild(b *testing.B) {
	objs := make([]*unstructured.Unstructured, b.N)
	for i := range objs {
		objs[i] = decodedChild(b, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, u := range objs {
		_, _ = trim(u)
	}
}
