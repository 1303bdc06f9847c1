package celenv

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	exprpb "google.golang.org/genproto/googleapis/api/expr/v1alpha1"
)

// Most expressions in templates are plain field selections such as
// schema.spec.name. Building their AST directly saves the CEL parser's
// ANTLR machinery (about 10 µs each); anything else, including a chain with
// spaces, escapes, a reserved identifier at its root or a keyword, goes to
// the parser.
const (
	maxChainLength   = 512
	maxChainSegments = 32
)

// celReserved are the words the CEL parser rejects as an identifier (its
// keywords and reserved identifiers); only the keywords, which the lexer
// never reads as identifiers, cannot name a selected field.
var celReserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true, "false": true, "for": true,
	"function": true, "if": true, "import": true, "in": true, "let": true, "loop": true, "package": true,
	"namespace": true, "null": true, "return": true, "true": true, "var": true, "void": true, "while": true,
}

var celKeywords = map[string]bool{"in": true, "true": true, "false": true, "null": true}

// parseChain returns the parsed AST of expr when expr is a chain of plain
// identifiers joined by dots, exactly as the CEL parser builds it: the
// identifier gets id 1 at offset 0 and each selection the next id at the
// offset of its dot. ok is false for anything else.
func parseChain(expr string) (a *cel.Ast, ok bool) {
	if len(expr) == 0 || len(expr) > maxChainLength {
		return nil, false
	}
	var segs [maxChainSegments]string
	n, start := 0, 0
	for i := 0; i <= len(expr); i++ {
		if i < len(expr) && expr[i] != '.' {
			c := expr[i]
			letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !letter && (i == start || c < '0' || c > '9') {
				return nil, false
			}
			continue
		}
		if i == start || n == maxChainSegments {
			return nil, false
		}
		if word := expr[start:i]; n == 0 && celReserved[word] || celKeywords[word] {
			return nil, false
		}
		segs[n] = expr[start:i]
		n++
		start = i + 1
	}
	positions := make(map[int64]int32, n)
	positions[1] = 0
	e := &exprpb.Expr{Id: 1, ExprKind: &exprpb.Expr_IdentExpr{IdentExpr: &exprpb.Expr_Ident{Name: segs[0]}}}
	offset := len(segs[0])
	for i := 1; i < n; i++ {
		id := int64(i + 1)
		positions[id] = int32(offset)
		e = &exprpb.Expr{Id: id, ExprKind: &exprpb.Expr_SelectExpr{SelectExpr: &exprpb.Expr_Select{Operand: e, Field: segs[i]}}}
		offset += 1 + len(segs[i])
	}
	parsed := &exprpb.ParsedExpr{Expr: e, SourceInfo: &exprpb.SourceInfo{
		Location:    "<input>",
		LineOffsets: []int32{int32(len(expr) + 1)},
		Positions:   positions,
	}}
	return cel.ParsedExprToAstWithSource(parsed, common.NewTextSource(expr)), true
}
