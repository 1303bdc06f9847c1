package graph

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem found in a ResourceGraphDefinition.
type Error struct {
	// RGD is the name of the ResourceGraphDefinition.
	RGD string
	// ResourceID is the id of the resource concerned, empty for the schema.
	ResourceID string
	// Field is the path of the offending field in the RGD, such as
	// spec.resources[2].template.spec.replicas.
	Field string
	// Expression is the CEL expression concerned, if any.
	Expression string
	// Message says what is wrong and what was expected.
	Message string
	// Code classifies the problem, so that callers decide on it without
	// reading Message. The zero value, CodeInvalid, is a fault of the RGD.
	Code Code
}

// Code classifies an Error.
type Code string

const (
	// CodeInvalid is a problem of the RGD itself: it stays until the RGD
	// changes.
	CodeInvalid Code = ""
	// CodeUnknownKind is a kind the schema resolver does not know: it may
	// appear later (a CRD being installed), so the RGD is worth compiling
	// again when CRDs change.
	CodeUnknownKind Code = "UnknownKind"
	// CodeSchemaUnavailable is a schema lookup that failed for a reason
	// other than the kind being unknown (the API server answered 500, timed
	// out, throttled): not the RGD's fault, and the compilation proves
	// nothing about it. Retry.
	CodeSchemaUnavailable Code = "SchemaUnavailable"
	// CodeCostEstimate is an expression whose estimated worst-case CEL cost
	// is above celenv.MaxEstimatedCost. kro estimates no cost, so by
	// default it is a warning (Graph.Warnings): the RGD is accepted, and
	// every evaluation is stopped at celenv.PerCallCostLimit. With
	// Options.StrictCostEstimate it is an error, a fault of the RGD.
	CodeCostEstimate Code = "CostEstimateExceeded"
)

// Error formats the problem on one line.
func (e *Error) Error() string {
	var b strings.Builder
	if e.RGD != "" {
		fmt.Fprintf(&b, "rgd %q: ", e.RGD)
	}
	if e.ResourceID != "" {
		fmt.Fprintf(&b, "resource %q: ", e.ResourceID)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	if e.Expression != "" {
		fmt.Fprintf(&b, "expression %q: ", e.Expression)
	}
	b.WriteString(e.Message)
	return b.String()
}

// ErrorList is every problem found in one ResourceGraphDefinition, in a
// deterministic order.
type ErrorList []*Error

// Error lists the problems, one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Has reports whether any problem of the list carries code.
func (l ErrorList) Has(code Code) bool {
	return slices.ContainsFunc(l, func(e *Error) bool { return e.Code == code })
}

// sorted orders errors by the position of their field in the RGD and removes
// exact duplicates.
func (l ErrorList) sorted() ErrorList {
	out := slices.Clone(l)
	slices.SortStableFunc(out, func(a, b *Error) int {
		return cmp.Or(
			compareFieldPaths(a.Field, b.Field),
			cmp.Compare(a.Message, b.Message),
			cmp.Compare(a.Expression, b.Expression),
		)
	})
	return slices.CompactFunc(out, func(a, b *Error) bool { return *a == *b })
}

// compareFieldPaths orders field paths so that spec.resources[2] comes before
// spec.resources[10].
func compareFieldPaths(a, b string) int {
	for a != "" && b != "" {
		na, ra := leadingNumber(a)
		nb, rb := leadingNumber(b)
		if na >= 0 && nb >= 0 {
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func leadingNumber(s string) (int, string) {
	i := 0
	n := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 9 {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 {
		return -1, s
	}
	return n, s[i:]
}

// errs collects problems while compiling.
type errs struct {
	rgd  string
	list ErrorList
}

func (c *errs) add(resourceID, field, expression, format string, args ...any) {
	c.addCode(CodeInvalid, resourceID, field, expression, format, args...)
}

// addCode records a problem of a given class.
func (c *errs) addCode(code Code, resourceID, field, expression, format string, args ...any) {
	c.list = append(c.list, &Error{
		RGD:        c.rgd,
		ResourceID: resourceID,
		Field:      field,
		Expression: expression,
		Message:    fmt.Sprintf(format, args...),
		Code:       code,
	})
}
