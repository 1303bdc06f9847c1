package instance

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/record"

	"github.com/rgd-dev/rgd/internal/inventory"
)

// TestRecordChangesOneEventPerReason checks that a pass's writes become one
// event per kind of change, naming at most maxEventChildren children.
func TestRecordChangesOneEventPerReason(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	p := &pass{r: &Reconciler{opts: Options{Recorder: rec}}, inst: &unstructured.Unstructured{Object: map[string]any{}}}
	for i := range 12 {
		p.changed("Created", inventory.Entry{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: fmt.Sprintf("c%d", i)})
	}
	p.changed("Updated", inventory.Entry{APIVersion: "v1", Kind: "Service", Namespace: "ns", Name: "s"})
	p.recordChanges()
	close(rec.Events)
	var got []string
	for ev := range rec.Events {
		got = append(got, ev)
	}
	require.Len(t, got, 2)
	assert.Contains(t, got[0], "Normal Created created v1 ConfigMap ns/c0, v1 ConfigMap ns/c1")
	assert.Contains(t, got[0], "v1 ConfigMap ns/c9 and 2 more")
	assert.NotContains(t, got[0], "c10")
	assert.Equal(t, "Normal Updated updated v1 Service ns/s", got[1])
}

// TestFirstPassCreatesQuietly checks that an instance's first pass reports
// no creations, and still reports every other kind of change.
func TestFirstPassCreatesQuietly(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	p := &pass{r: &Reconciler{opts: Options{Recorder: rec}}, inst: &unstructured.Unstructured{Object: map[string]any{}}, firstPass: true}
	p.changed("Created", inventory.Entry{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "c"})
	p.changed("Adopted", inventory.Entry{APIVersion: "v1", Kind: "Service", Namespace: "ns", Name: "s"})
	p.recordChanges()
	close(rec.Events)
	var got []string
	for ev := range rec.Events {
		got = append(got, ev)
	}
	assert.Equal(t, []string{"Normal Adopted took over v1 Service ns/s"}, got)
}
