package instance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDropStaleWritten checks that written children older than writtenTTL
// are let go, so that a child no later pass reads is not held for ever.
func TestDropStaleWritten(t *testing.T) {
	m := &writeMemory{}
	now := time.Now()
	old := writtenKey{namespace: "ns", name: "old"}
	fresh := writtenKey{namespace: "ns", name: "fresh"}
	m.children.Store(old, writtenObject{obj: &unstructured.Unstructured{}, at: now.Add(-writtenTTL - time.Second)})
	m.children.Store(fresh, writtenObject{obj: &unstructured.Unstructured{}, at: now.Add(-time.Second)})
	m.dropStale(now)
	_, hasOld := m.children.Load(old)
	_, hasFresh := m.children.Load(fresh)
	assert.False(t, hasOld, "an entry past its TTL is dropped")
	assert.True(t, hasFresh, "a recent entry stays")
}
