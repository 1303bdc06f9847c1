package template

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Segment is one piece of a parsed string: either literal text or the source of one CEL expression.
type Segment struct {
	// Literal is the text of a literal segment (empty for an expression segment).
	Literal string
	// Expr is the CEL source between `${` and `}` of an expression segment, exactly as written.
	Expr string
	// IsExpr tells whether the segment is an expression.
	IsExpr bool
}

// Template is a parsed string value. Segments alternate literal and expression pieces in input order;
// two literal segments are never adjacent and no literal segment is empty.
type Template struct {
	// Segments holds the pieces of the string in order.
	Segments []Segment
}

// SyntaxError reports a malformed `${...}` at a byte offset of the input.
type SyntaxError struct {
	// Offset is the byte offset in the input where the problem was found.
	Offset int
	// Msg says what is wrong and what was expected.
	Msg string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("at byte offset %d: %s", e.Offset, e.Msg)
}

// Parse splits s into literal and `${...}` expression segments.
//
// Errors (all *SyntaxError): an unterminated `${`, an empty `${}`, a `${` nested inside an expression outside a
// CEL string literal, and an unterminated string literal inside an expression. A lone `$` or `{` in text is literal.
func Parse(s string) (Template, error) {
	if !strings.Contains(s, "${") {
		// Only text: one literal segment (none for the empty string).
		if s == "" {
			return Template{}, nil
		}
		return Template{Segments: []Segment{{Literal: s}}}, nil
	}
	var t Template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.Segments = append(t.Segments, Segment{Literal: lit.String()})
			lit.Reset()
		}
	}
	i := 0
	for i < len(s) {
		k := strings.Index(s[i:], "${")
		if k < 0 {
			lit.WriteString(s[i:])
			break
		}
		open := i + k
		lit.WriteString(s[i:open])
		end, err := scanExpr(s, open)
		if err != nil {
			return Template{}, err
		}
		expr := s[open+2 : end]
		if strings.TrimSpace(expr) == "" {
			return Template{}, &SyntaxError{Offset: open, Msg: "empty expression: expected a CEL expression between ${ and }"}
		}
		flush()
		t.Segments = append(t.Segments, Segment{Expr: expr, IsExpr: true})
		i = end + 1
	}
	flush()
	return t, nil
}

// scanExpr returns the offset of the `}` closing the expression whose `${` starts at open.
func scanExpr(s string, open int) (int, error) {
	start := open + 2
	depth := 0
	for i := start; i < len(s); {
		switch c := s[i]; {
		case c == '\'' || c == '"':
			next, err := skipString(s, start, i, open)
			if err != nil {
				return 0, err
			}
			i = next
			continue
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			return 0, &SyntaxError{Offset: i, Msg: fmt.Sprintf(
				"nested ${ inside the expression opened at byte offset %d: expected } to close it first "+
					"(a literal ${ is written as a CEL string, e.g. ${\"${VAR}\"})", open)}
		}
		i++
	}
	if depth > 0 {
		return 0, &SyntaxError{Offset: open, Msg: fmt.Sprintf(
			"unterminated expression: expected %d more } to close the braces opened inside it and one } to close ${", depth)}
	}
	return 0, &SyntaxError{Offset: open, Msg: "unterminated expression: expected } to close ${"}
}

// skipString skips the CEL string literal whose opening quote is at q and returns the offset just past it.
// exprStart bounds the look-back for r/b prefixes; open is the offset of the enclosing `${` for messages.
func skipString(s string, exprStart, q, open int) (int, error) {
	raw := false
	k := q - 1
	for k >= exprStart && q-k <= 2 && strings.IndexByte("rRbB", s[k]) >= 0 {
		k--
	}
	if k < exprStart || !isIdentByte(s[k]) {
		raw = strings.ContainsAny(s[k+1:q], "rR")
	}
	quote := s[q]
	delim := s[q : q+1]
	if q+2 < len(s) && s[q+1] == quote && s[q+2] == quote {
		delim = s[q : q+3]
	}
	for i := q + len(delim); i < len(s); {
		if !raw && s[i] == '\\' {
			i += 2
			continue
		}
		if strings.HasPrefix(s[i:], delim) {
			return i + len(delim), nil
		}
		i++
	}
	return 0, &SyntaxError{Offset: q, Msg: fmt.Sprintf(
		"unterminated string literal in the expression opened at byte offset %d: expected a closing %s", open, delim)}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// IsStandalone reports whether the whole string is exactly one `${...}`: the field then takes the
// expression's type instead of being a string.
func (t Template) IsStandalone() bool {
	return len(t.Segments) == 1 && t.Segments[0].IsExpr
}

// HasExpressions reports whether the string contains at least one expression.
func (t Template) HasExpressions() bool {
	for _, seg := range t.Segments {
		if seg.IsExpr {
			return true
		}
	}
	return false
}

// Expressions returns the CEL source of every expression segment in order.
func (t Template) Expressions() []string {
	var out []string
	for _, seg := range t.Segments {
		if seg.IsExpr {
			out = append(out, seg.Expr)
		}
	}
	return out
}

// String renders the segments back into the original input.
func (t Template) String() string {
	var b strings.Builder
	for _, seg := range t.Segments {
		if seg.IsExpr {
			b.WriteString("${")
			b.WriteString(seg.Expr)
			b.WriteString("}")
		} else {
			b.WriteString(seg.Literal)
		}
	}
	return b.String()
}

// CEL returns one CEL expression computing the whole value. For a standalone template it is the expression
// itself; otherwise the literal parts are quoted as CEL strings and joined with the parenthesised
// expressions by `+`, e.g. `"app-" + (schema.spec.name) + "-svc"` (every expression must then be a string).
// A template without expressions becomes a quoted string literal.
func (t Template) CEL() string {
	if t.IsStandalone() {
		return t.Segments[0].Expr
	}
	if len(t.Segments) == 0 {
		return `""`
	}
	parts := make([]string, 0, len(t.Segments))
	for _, seg := range t.Segments {
		if !seg.IsExpr {
			parts = append(parts, QuoteCEL(seg.Literal))
			continue
		}
		if strings.Contains(seg.Expr, "//") {
			// A trailing line comment must not swallow the closing parenthesis.
			parts = append(parts, "("+seg.Expr+"\n)")
		} else {
			parts = append(parts, "("+seg.Expr+")")
		}
	}
	return strings.Join(parts, " + ")
}

// QuoteCEL returns s as a double-quoted CEL string literal. Backslash, double quote and control characters
// are escaped; bytes that are not valid UTF-8 become U+FFFD, since CEL strings hold Unicode text only.
func QuoteCEL(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\uFFFD`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
