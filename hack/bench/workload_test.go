package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

func benchInstance(name, state string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": name, "namespace": "bench-0"},
	}}
	if state != "" {
		u.Object["status"] = map[string]any{"state": state}
	}
	return u
}

func TestTallyCountsEachActiveInstanceOnce(t *testing.T) {
	tl := &tally{in: map[string]bool{}}
	a, b := benchInstance("a", "ACTIVE"), benchInstance("b", "IN_PROGRESS")
	tl.set(a, isActive(a))
	tl.set(a, isActive(a)) // a repeated update of an ACTIVE instance
	tl.set(b, isActive(b))
	assert.Equal(t, 1, tl.count())

	b = benchInstance("b", "ACTIVE")
	tl.set(b, isActive(b))
	assert.Equal(t, 2, tl.count())

	a = benchInstance("a", "ERROR")
	tl.set(a, isActive(a))
	assert.Equal(t, 1, tl.count(), "an instance that leaves ACTIVE is no longer counted")

	// A deletion the informer missed arrives as a tombstone.
	tl.set(cache.DeletedFinalStateUnknown{Key: "bench-0/b", Obj: b}, false)
	assert.Equal(t, 0, tl.count())
	assert.False(t, isActive(cache.DeletedFinalStateUnknown{Key: "bench-0/b", Obj: b}))
}
