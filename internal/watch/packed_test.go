package watch

import (
	"fmt"
	"runtime"
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
	"labels":{"kro.run/owned":"true","kro.run/instance-id":"uid-%d","kro.run/instance-name":"app-%d","kro.run/resource-graph-definition-name":"webapp"}},
	"data":{"value":"v1","list":["a","b"],"nested":{"deep":"x"}, "n": 3}}`, i, i, i, i, i)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON([]byte(raw)))
	return u
}

func sameBytes(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// TestPackKeepsContentAndSharesMetadata checks that trimming packs an object
// without changing its content, that integers and floats come back as the
// JSON decoder made them, that every read is a copy of its own, and that
// what is kept decoded is shared between objects.
func TestPackKeepsContentAndSharesMetadata(t *testing.T) {
	a, b := decodedChild(t, 1), decodedChild(t, 2)
	require.NoError(t, unstructured.SetNestedField(a.Object, 1.5, "data", "ratio"))
	want := a.DeepCopy()
	pa, err := trim(a)
	require.NoError(t, err)
	pb, err := trim(b)
	require.NoError(t, err)
	require.IsType(t, &packed{}, pa)

	got, ok := unpackAny(pa)
	require.True(t, ok)
	assert.Equal(t, want.Object, got.Object, "packing changes no content")
	assert.IsType(t, int64(0), got.Object["data"].(map[string]any)["n"])
	assert.IsType(t, float64(0), got.Object["data"].(map[string]any)["ratio"])

	again, _ := unpackAny(pa)
	again.SetName("changed")
	got, _ = unpackAny(pa)
	assert.Equal(t, "app-1-config", got.GetName(), "a reader's copy is its own")

	assert.True(t, sameBytes(pa.(*packed).namespace, pb.(*packed).namespace), "namespaces are shared")
	assert.Equal(t, "uid-1", pa.(*packed).instanceID)
	assert.Equal(t, "team-a", pa.(*packed).GetObjectMeta().GetNamespace())
	assert.Equal(t, "1", pa.(*packed).GetObjectMeta().GetResourceVersion())
}

// TestPackedIsSmallerThanDecoded measures what packing saves on the
// children of the benchmark's shape: it must at least halve the heap an
// object holds.
func TestPackedIsSmallerThanDecoded(t *testing.T) {
	const n = 2000
	base := heapInUse()
	decoded := make([]*unstructured.Unstructured, n)
	for i := range decoded {
		decoded[i] = decodedChild(t, i)
	}
	asDecoded := heapInUse() - base
	stored := make([]any, n)
	for i, u := range decoded {
		stored[i], _ = trim(u)
	}
	decoded = nil
	asPacked := heapInUse() - base
	runtime.KeepAlive(stored)
	t.Logf("heap for %d ConfigMaps: %d bytes decoded, %d packed", n, asDecoded, asPacked)
	assert.Less(t, asPacked*2, asDecoded, "packed objects take less than half the heap of decoded ones")
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
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

// BenchmarkUnpackChild times the reads of a packed child: decoding all of
// it (every Get, List and event) and only its labels (a List's selector).
func BenchmarkUnpackChild(b *testing.B) {
	p, err := trim(decodedChild(b, 1))
	require.NoError(b, err)
	for _, read := range []struct {
		name string
		fn   func(any)
	}{
		{"whole", func(o any) { _, _ = unpackAny(o) }},
		{"labels", func(o any) { _, _ = labelsOf(o) }},
	} {
		b.Run(read.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				read.fn(p)
			}
		})
	}
}

func TestLabelsOf(t *testing.T) {
	u := decodedChild(t, 7)
	want := u.GetLabels()
	p, err := trim(u)
	require.NoError(t, err)
	got, ok := labelsOf(p)
	require.True(t, ok)
	assert.Equal(t, want, got)
	got, ok = labelsOf(decodedChild(t, 7))
	require.True(t, ok)
	assert.Equal(t, want, got)
	_, ok = labelsOf("not an object")
	assert.False(t, ok)
}
