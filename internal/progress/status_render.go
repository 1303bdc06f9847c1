package progress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// Output formats of `rgd status`.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatYAML = "yaml"
)

// RenderStatus renders a reading of `rgd status` as text lines, the ages of
// conditions counted up to now.
func RenderStatus(s Status, now time.Time) []Line {
	switch {
	case s.Instance != nil:
		return RenderInstanceStatus(*s.Instance, now)
	case s.RGD != nil:
		return RenderRGDStatus(*s.RGD, now)
	}
	return nil
}

// RenderInstanceStatus renders an instance: a header (state, Ready and how
// long since it last changed), its resources in topological order (object,
// state, readiness and what a resource that is not ready waits on), then
// its conditions.
func RenderInstanceStatus(in Instance, now time.Time) []Line {
	head := in.Ref() + ": "
	if !in.Found {
		return textLines(head + "not found")
	}
	head += orDash(string(in.State))
	if ready := readyCondition(in.Conditions); ready != nil {
		head += ", Ready=" + string(ready.Status) + since(ready, now)
	}
	var b strings.Builder
	b.WriteString(head + "\n")
	if in.RGD != "" {
		fmt.Fprintf(&b, "ResourceGraphDefinition: %s\n", in.RGD)
	}
	if in.GraphError != "" {
		fmt.Fprintf(&b, "Readiness not judged: %s\n", oneLine(in.GraphError))
	}
	if len(in.Resources) > 0 {
		b.WriteString("\nRESOURCE\tOBJECT\tSTATE\tREADY\tWAITING ON\n")
		for _, r := range in.Resources {
			fmt.Fprintf(&b, "%s\t%s/%s\t%s\t%s\t%s\n", r.ID, r.Kind, orDash(r.Name), r.State, readyColumn(in, r), blockedColumn(r))
		}
	}
	writeConditions(&b, in.Conditions, now)
	return textLines(tabulate(b.String()))
}

// RenderRGDStatus renders an RGD: its state, conditions and instances
// counted by state.
func RenderRGDStatus(r RGD, now time.Time) []Line {
	var b strings.Builder
	fmt.Fprintf(&b, "ResourceGraphDefinition %s: %s", r.Name, orDash(string(r.State)))
	if r.InstanceKind != "" {
		fmt.Fprintf(&b, " (kind %s)", r.InstanceKind)
	}
	b.WriteString("\n")
	if r.Message != "" {
		fmt.Fprintf(&b, "%s\n", oneLine(r.Message))
	}
	writeConditions(&b, r.Conditions, now)
	total := 0
	for _, c := range r.InstancesByState {
		total += c.Count
	}
	if total == 0 {
		b.WriteString("\nInstances: none\n")
		return textLines(tabulate(b.String()))
	}
	fmt.Fprintf(&b, "\nInstances: %d\n", total)
	for _, c := range r.InstancesByState {
		state := string(c.State)
		if state == "" {
			state = "(no state yet)"
		}
		fmt.Fprintf(&b, "  %s\t%d\n", state, c.Count)
	}
	return textLines(tabulate(b.String()))
}

// writeConditions writes a Conditions section, one condition a line:
// type, status, reason, age of its last transition, message.
func writeConditions(b *strings.Builder, conds []v1alpha1.Condition, now time.Time) {
	if len(conds) == 0 {
		return
	}
	b.WriteString("\nConditions:\n")
	for _, c := range conds {
		fmt.Fprintf(b, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, orDash(deref(c.Reason)), strings.TrimSpace(since(&c, now)), oneLine(deref(c.Message)))
	}
}

// readyColumn is yes or no, - for an excluded resource, ? when not judged.
func readyColumn(in Instance, r Resource) string {
	switch {
	case !in.Judged:
		return "?"
	case r.State == ResourceExcluded:
		return "-"
	case r.Ready:
		return "yes"
	}
	return "no"
}

// blockedColumn says what a resource waits on, or why it is excluded.
func blockedColumn(r Resource) string {
	if r.Blocked == nil {
		return ""
	}
	return oneLine(r.Blocked.Message)
}

func readyCondition(conds []v1alpha1.Condition) *v1alpha1.Condition {
	for i := range conds {
		if conds[i].Type == v1alpha1.ConditionReady {
			return &conds[i]
		}
	}
	return nil
}

// since is " since AGE" for a condition's last transition, "" without one.
func since(c *v1alpha1.Condition, now time.Time) string {
	if c.LastTransitionTime == nil || c.LastTransitionTime.IsZero() {
		return ""
	}
	return " since " + duration.HumanDuration(max(now.Sub(c.LastTransitionTime.Time), 0))
}

// oneLine collapses runs of white space (an expression written over
// several lines) into one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// tabulate aligns the tab-separated cells of text in columns.
func tabulate(text string) string {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	_, _ = io.WriteString(w, text)
	_ = w.Flush()
	return b.String()
}

// textLines splits text into display lines, trailing blanks cut.
func textLines(text string) []Line {
	var lines []Line
	for i, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		lines = append(lines, Line{Key: strconv.Itoa(i), Text: strings.TrimRight(l, " ")})
	}
	return lines
}

// EncodeStatus writes the document of a reading (Status.Document) as
// indented JSON or as YAML.
func EncodeStatus(w io.Writer, s Status, format string) error {
	doc, err := json.MarshalIndent(s.Document(), "", "  ")
	if err != nil {
		return err
	}
	if format == FormatYAML {
		if doc, err = yaml.JSONToYAML(doc); err != nil {
			return err
		}
	} else {
		doc = append(doc, '\n')
	}
	_, err = w.Write(doc)
	return err
}

// StatusOutput shows the readings of `rgd status`, once or while watching.
// On a terminal, text is redrawn in place at every reading (ages go on);
// elsewhere, and for JSON and YAML, a reading is printed only when it
// differs from the last one printed: a blank line before each text block
// after the first, "---" before each YAML document after the first.
type StatusOutput struct {
	out, errOut io.Writer
	format      string
	tty         bool
	printer     *Printer
	last        string // the last reading printed (not on a terminal)
	printed     int
}

// NewStatusOutput returns an output of format (text, json or yaml) to out;
// tty says whether out is a terminal. Errors of readings go to errOut in
// JSON and YAML, to out in text.
func NewStatusOutput(out, errOut io.Writer, format string, tty bool) (*StatusOutput, error) {
	switch format {
	case FormatText, FormatJSON, FormatYAML:
	default:
		return nil, fmt.Errorf("output format %q: want text, json or yaml", format)
	}
	return &StatusOutput{out: out, errOut: errOut, format: format, tty: tty, printer: NewPrinter(out, tty)}, nil
}

// Show shows one reading (s, or the error of reading it) at now.
func (o *StatusOutput) Show(s Status, readErr error, now time.Time) error {
	var key string
	if readErr != nil {
		key = "error: " + readErr.Error()
	} else {
		doc, err := json.Marshal(s.Document())
		if err != nil {
			return err
		}
		key = string(doc)
	}
	if o.format == FormatText && o.tty {
		lines := []Line{{Key: "error", Text: "rgd status: " + key}}
		if readErr == nil {
			lines = RenderStatus(s, now)
		}
		o.printer.Show(lines)
		return nil
	}
	if key == o.last {
		return nil
	}
	o.last = key
	o.printed++
	if readErr != nil {
		w := o.errOut
		if o.format == FormatText {
			w = o.out
		}
		_, err := fmt.Fprintf(w, "rgd status: %v\n", readErr)
		return err
	}
	return o.print(s, now)
}

func (o *StatusOutput) print(s Status, now time.Time) error {
	switch o.format {
	case FormatText:
		var b strings.Builder
		if o.printed > 1 {
			b.WriteString("\n")
		}
		for _, l := range RenderStatus(s, now) {
			b.WriteString(l.Text + "\n")
		}
		_, err := io.WriteString(o.out, b.String())
		return err
	case FormatYAML:
		if o.printed > 1 {
			if _, err := io.WriteString(o.out, "---\n"); err != nil {
				return err
			}
		}
	}
	return EncodeStatus(o.out, s, o.format)
}

// WatchStatus reads t every interval and shows each reading through o until
// ctx ends. It returns the last reading and its error.
func (r *Reader) WatchStatus(ctx context.Context, t Target, interval time.Duration, o *StatusOutput) (Status, error) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var last Status
	var lastErr error
	for {
		s, err := r.Status(ctx, t)
		if ctx.Err() != nil {
			return last, lastErr // the read may have failed for it: keep the one before
		}
		last, lastErr = s, err
		if err := o.Show(s, err, time.Now()); err != nil {
			return last, err
		}
		select {
		case <-ctx.Done():
			return last, lastErr
		case <-ticker.C:
		}
	}
}
