package main

import (
	"fmt"
	"strings"
	"time"
)

// Result is the verdict of one row.
type Result string

// The verdicts: within the target, outside it, or no target (information).
const (
	Pass Result = "pass"
	Miss Result = "miss"
	Info Result = "—"
)

// Row is one line of the results table.
type Row struct {
	// Scenario names what was measured ("create", "floor", ...).
	Scenario string
	// N is the number of instances; 0 for rows that do not depend on it.
	N int
	// Measure says what the value is.
	Measure string
	// Value is the measured figure, formatted.
	Value string
	// Target is the target, formatted; empty when there is none.
	Target string
	// Result is pass, miss or — (no target).
	Result Result
}

// Report is the whole output: a few lines about the run, then the rows.
type Report struct {
	// Title heads the table.
	Title string
	// Notes are printed as a bullet list under the title (machine, flags).
	Notes []string
	// Rows are the table's rows in order.
	Rows []Row
}

// Markdown renders the report as markdown.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", r.Title)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("| scenario | N | measure | measured | target | result |\n")
	b.WriteString("|---|---:|---|---:|---|---|\n")
	for _, row := range r.Rows {
		n := ""
		if row.N > 0 {
			n = fmt.Sprint(row.N)
		}
		target := row.Target
		if target == "" {
			target = "—"
		}
		result := row.Result
		if result == "" {
			result = Info
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
			cell(row.Scenario), n, cell(row.Measure), cell(row.Value), cell(target), result)
	}
	return b.String()
}

// cell escapes what would break a table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// Seconds formats a duration as seconds with two decimals.
func Seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// AtMost returns Pass when v <= limit, else Miss.
func AtMost(v, limit float64) Result {
	if v <= limit {
		return Pass
	}
	return Miss
}

// Under returns Pass when v < limit, else Miss.
func Under(v, limit float64) Result {
	if v < limit {
		return Pass
	}
	return Miss
}
