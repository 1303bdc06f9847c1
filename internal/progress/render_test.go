package progress

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

func sampleProgress() []RGD {
	return []RGD{{
		Name: "cartsstack.kro.run", State: v1alpha1.StateActive,
		Instances: []Instance{{
			Kind: "CartsStack", Namespace: "default", Name: "carts-kro", Found: true,
			State: v1alpha1.InstanceStateInProgress, ReadyMessage: "waiting for table",
			Resources: []Resource{
				{ID: "ns", Kind: "Namespace", Name: "carts-kro", State: ResourceCreated},
				{ID: "table", Kind: "Table", Name: "carts-kro/items", State: ResourceCreated},
				{ID: "deployment", Kind: "Deployment", State: ResourceWaiting},
			},
		}},
	}}
}

func texts(lines []Line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}

func TestRender(t *testing.T) {
	assert.Equal(t, []string{
		"ResourceGraphDefinition cartsstack.kro.run: Active",
		"  CartsStack default/carts-kro: IN_PROGRESS (waiting for table)",
		"    ns          created   Namespace/carts-kro",
		"    table       created   Table/carts-kro/items",
		"    deployment  waiting   Deployment/-",
	}, texts(Render(sampleProgress())))

	missing := []RGD{{Name: "web", State: v1alpha1.StateInactive, Message: "resource x: bad field",
		Instances: []Instance{{Kind: "Web", Name: "site"}}}}
	assert.Equal(t, []string{"ResourceGraphDefinition web: Inactive: resource x: bad field", "  Web site: not found"}, texts(Render(missing)))

	unread := []RGD{{Name: "web", State: StateUnreadable}, {Name: "new"}}
	assert.Equal(t, []string{"ResourceGraphDefinition web: unknown", "ResourceGraphDefinition new: -"}, texts(Render(unread)))
}

func TestPrinterPlainPrintsOnlyChanges(t *testing.T) {
	var buf strings.Builder
	p := NewPrinter(&buf, false)
	snap := sampleProgress()
	p.Show(Render(snap))
	assert.Equal(t, 5, strings.Count(buf.String(), "\n"))
	buf.Reset()
	p.Show(Render(snap))
	assert.Empty(t, buf.String(), "nothing changed")
	snap[0].Instances[0].Resources[2].State = ResourceCreated
	snap[0].Instances[0].Resources[2].Name = "carts-kro/carts"
	p.Show(Render(snap))
	assert.Equal(t, "    deployment  created   Deployment/carts-kro/carts\n", buf.String())
	assert.NotContains(t, buf.String(), "\x1b", "no escape codes off a terminal")
}

func TestPrinterTerminalRedrawsInPlace(t *testing.T) {
	var buf strings.Builder
	p := NewPrinter(&buf, true)
	p.Show(Render(sampleProgress()))
	first := buf.String()
	assert.NotContains(t, first, "\x1b[5A", "nothing to move over the first time")
	assert.Equal(t, 5, strings.Count(first, "\r\x1b[2K"))
	buf.Reset()
	p.Show(Render(sampleProgress()))
	assert.True(t, strings.HasPrefix(buf.String(), "\x1b[5A"), "moves up over the 5 lines drawn: %q", buf.String())
	assert.True(t, strings.HasSuffix(buf.String(), "\x1b[J"))
}

func TestSettled(t *testing.T) {
	snap := sampleProgress()
	assert.Nil(t, Settled(snap))
	snap[0].Instances[0].State = v1alpha1.InstanceStateActive
	assert.Len(t, Settled(snap), 1)
	snap[0].Instances = append(snap[0].Instances, Instance{Kind: "CartsStack", Name: "other", State: v1alpha1.InstanceStateError})
	assert.Len(t, Settled(snap), 2)
}

func TestFormatCondition(t *testing.T) {
	reason, message := "ResourceFailed", "table: refused"
	c := v1alpha1.Condition{Type: v1alpha1.ConditionResourcesReady, Status: "False", Reason: &reason, Message: &message}
	assert.Equal(t, "ResourcesReady=False ResourceFailed: table: refused", FormatCondition(c))
	assert.Equal(t, "Ready=Unknown : ", FormatCondition(v1alpha1.Condition{Type: v1alpha1.ConditionReady, Status: "Unknown"}))
}
