package simpleschema

import (
	"fmt"
	"strings"
)

// MaxTypeDepth is the deepest nesting of []T and map[string]T in one type expression.
const MaxTypeDepth = 16

// Built-in type names. "float" becomes OpenAPI "number"; "object" is free-form.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeFloat   = "float"
	TypeObject  = "object"
)

var builtinTypes = map[string]bool{TypeString: true, TypeInteger: true, TypeBoolean: true, TypeFloat: true, TypeObject: true}

type exprKind int

const (
	exprName exprKind = iota
	exprArray
	exprMap
)

// typeExpr is a parsed type expression: a name (built-in or custom), or an array or
// map of an element type.
type typeExpr struct {
	kind exprKind
	name string
	elem *typeExpr
}

// baseName returns the name at the bottom of the expression.
func (e *typeExpr) baseName() string {
	for e.kind != exprName {
		e = e.elem
	}
	return e.name
}

// parseType parses "string", "[]T", "map[string]T" and custom names.
func parseType(s string) (*typeExpr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("missing type")
	}
	orig := s
	root := &typeExpr{}
	cur := root
	for depth := 0; ; depth++ {
		if depth > MaxTypeDepth {
			return nil, fmt.Errorf("type %q nests deeper than the maximum depth %d", orig, MaxTypeDepth)
		}
		rest := s
		switch {
		case strings.HasPrefix(rest, "[]"):
			cur.kind = exprArray
			rest = rest[2:]
		case strings.HasPrefix(rest, "map["):
			key, after, ok := strings.Cut(rest[4:], "]")
			if !ok {
				return nil, fmt.Errorf("type %q: unclosed map key bracket", orig)
			}
			if k := strings.TrimSpace(key); k != "string" {
				return nil, fmt.Errorf("type %q: map key must be string, not %q", orig, k)
			}
			cur.kind = exprMap
			rest = after
		default:
			if strings.ContainsAny(rest, "[]{}()|\"' \t\n\r,=") {
				return nil, fmt.Errorf("invalid type %q", rest)
			}
			cur.kind = exprName
			cur.name = rest
			return root, nil
		}
		rest = strings.TrimSpace(rest)
		if rest == "" {
			return nil, fmt.Errorf("type %q: missing element type", orig)
		}
		cur.elem = &typeExpr{}
		cur = cur.elem
		s = rest
	}
}
