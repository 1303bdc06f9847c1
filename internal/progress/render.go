package progress

import (
	"fmt"
	"io"
	"strings"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// Line is one line of the display; Key identifies it across renderings.
type Line struct {
	Key, Text string
}

// Render turns a snapshot into display lines: one per RGD, one per
// instance below it, and one per resource of each instance, in columns.
func Render(snap []RGD) []Line {
	var lines []Line
	for _, r := range snap {
		state := orDash(string(r.State))
		if r.Message != "" {
			state += ": " + r.Message
		}
		lines = append(lines, Line{"rgd/" + r.Name, fmt.Sprintf("ResourceGraphDefinition %s: %s", r.Name, state)})
		for _, in := range r.Instances {
			lines = append(lines, renderInstance(in)...)
		}
	}
	return lines
}

func renderInstance(in Instance) []Line {
	key := "instance/" + in.Namespace + "/" + in.Name
	text := in.Ref() + ": "
	if !in.Found {
		text += "not found"
	} else {
		text += orDash(string(in.State))
		if in.ReadyMessage != "" {
			text += " (" + in.ReadyMessage + ")"
		}
	}
	lines := []Line{{key, "  " + text}}
	width := 0
	for _, res := range in.Resources {
		width = max(width, len(res.ID))
	}
	for _, res := range in.Resources {
		lines = append(lines, Line{
			key + "/" + res.ID,
			fmt.Sprintf("    %-*s  %-8s  %s/%s", width, res.ID, res.State, res.Kind, orDash(res.Name)),
		})
	}
	return lines
}

// FormatCondition renders a condition on one line: Type=Status Reason: Message.
func FormatCondition(c v1alpha1.Condition) string {
	return fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, deref(c.Reason), deref(c.Message))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Printer shows successive renderings: redrawn in place on a terminal, else
// as plain lines, each printed only when it changed.
type Printer struct {
	out     io.Writer
	tty     bool
	drawn   int               // lines drawn last time (terminal)
	printed map[string]string // last text printed per key (plain)
}

// NewPrinter returns a Printer to out; tty says whether out is a terminal
// (where escape codes redraw the lines in place).
func NewPrinter(out io.Writer, tty bool) *Printer {
	return &Printer{out: out, tty: tty, printed: map[string]string{}}
}

// Show prints lines.
func (p *Printer) Show(lines []Line) {
	var b strings.Builder
	if p.tty {
		if p.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn) // back to the first line drawn
		}
		for _, l := range lines {
			b.WriteString("\r\x1b[2K" + l.Text + "\n")
		}
		b.WriteString("\x1b[J") // clear lines left over from a longer drawing
		p.drawn = len(lines)
	} else {
		for _, l := range lines {
			if p.printed[l.Key] != l.Text {
				p.printed[l.Key] = l.Text
				b.WriteString(l.Text + "\n")
			}
		}
	}
	_, _ = io.WriteString(p.out, b.String())
}
