package graph

import (
	"fmt"
	"maps"
	"slices"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/rgd-dev/rgd/pkg/celenv"
	"github.com/rgd-dev/rgd/pkg/template"
)

// parseStatus collects the status expressions; every leaf must be one.
func (c *compiler) parseStatus() {
	if c.statusRaw == nil {
		return
	}
	w := &walker{errs: &c.errs, fieldPrefix: "spec.schema.status"}
	var visit func(v any, p Path)
	visit = func(v any, p Path) {
		switch val := v.(type) {
		case map[string]any:
			keys := slices.Sorted(maps.Keys(val))
			for _, k := range keys {
				if len(p) == 0 && k == "state" {
					c.errs.add("", w.field(p.child(k)), "", "status.state is reserved: rgd writes it")
					continue
				}
				if len(p) == 0 && k == "conditions" {
					c.parseConditionList(val[k])
					continue
				}
				visit(val[k], p.child(k))
			}
		case string:
			tmpl, err := template.Parse(val)
			if err != nil {
				c.errs.add("", w.field(p), "", "%v", err)
				return
			}
			if !tmpl.HasExpressions() {
				c.errs.add("", w.field(p), "", "status fields must be ${...} expressions; %q is a constant", val)
				return
			}
			c.statusSites = append(c.statusSites, site{path: p, tmpl: tmpl})
		default:
			c.errs.add("", w.field(p), "", "status fields must be ${...} expressions, got %s", jsonKind(v))
		}
	}
	visit(c.statusRaw, nil)
}

// parseConditionList reads the author's status.conditions: a list of
// ${...} expressions, each returning a condition (runtime.newCondition) or a
// list of them.
func (c *compiler) parseConditionList(v any) {
	field := "spec.schema.status.conditions"
	list, ok := v.([]any)
	if !ok {
		c.errs.add("", field, "", "expected a list of ${runtime.newCondition(...)} expressions, got %s", jsonKind(v))
		return
	}
	for i, item := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		str, isString := item.(string)
		if !isString {
			c.errs.add("", f, "", "expected a ${...} expression returning a condition, got %s", jsonKind(item))
			continue
		}
		if src, ok := standalone(c, "", f, str); ok {
			c.conditionSources = append(c.conditionSources, src)
		}
	}
}

// checkStatus compiles the status expressions and infers the status schema.
func (c *compiler) checkStatus(env *celenv.Env) {
	root := &extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{}}
	for _, s := range c.statusSites {
		field := s.path.under("spec.schema.status")
		f := &Field{Path: s.path, Standalone: s.tmpl.IsStandalone()}
		var out *extv1.JSONSchemaProps
		ok := true
		for _, seg := range s.tmpl.Segments {
			if !seg.IsExpr {
				f.Parts = append(f.Parts, Part{Literal: seg.Literal})
				continue
			}
			c.forbidOmit("", field, seg.Expr, "status")
			compiled, good := c.compileExpr(env, "", field, seg.Expr)
			if !good {
				ok = false
				continue
			}
			expr := c.expression(env, compiled, nil)
			if len(expr.References) == 0 && !expr.UsesSchema {
				c.errs.add("", field, seg.Expr, "a status expression must read the instance (schema) or a resource")
				ok = false
				continue
			}
			if f.Standalone {
				out = env.SchemaForType(compiled.OutputType)
			} else if !isStringLike(compiled.OutputType) {
				c.errs.add("", field, seg.Expr, "part of a string template must return a string, this returns %s", typeName(compiled.OutputType))
				ok = false
			}
			f.Parts = append(f.Parts, Part{Expression: expr})
		}
		if !ok {
			continue
		}
		if !f.Standalone {
			out = &extv1.JSONSchemaProps{Type: "string"}
		}
		setSchemaAt(root, s.path, out)
		c.instance.Status = append(c.instance.Status, f)
	}
	c.statusSchema = root
	for i, src := range c.conditionSources {
		field := fmt.Sprintf("spec.schema.status.conditions[%d]", i)
		c.forbidOmit("", field, src, "status")
		compiled, ok := c.compileExpr(env, "", field, src)
		if !ok {
			continue
		}
		if !isConditionType(compiled.OutputType) {
			c.errs.add("", field, src, "a status condition must be a condition (runtime.newCondition(...)) or a list of them, this returns %s", typeName(compiled.OutputType))
			continue
		}
		c.instance.Conditions = append(c.instance.Conditions, c.expression(env, compiled, nil))
	}
}

// isConditionType accepts a condition map, a list of them, or dyn.
func isConditionType(t *cel.Type) bool {
	switch t.Kind() {
	case types.DynKind:
		return true
	case types.ListKind:
		return len(t.Parameters()) == 1 && isConditionType(t.Parameters()[0])
	case types.MapKind:
		p := t.Parameters()
		return len(p) == 2 && p[0].Kind() == types.StringKind && (p[1].Kind() == types.StringKind || p[1].Kind() == types.DynKind)
	}
	return false
}

// setSchemaAt places a leaf schema at p, creating the objects on the way.
func setSchemaAt(root *extv1.JSONSchemaProps, p Path, leaf *extv1.JSONSchemaProps) {
	cur := root
	for i, e := range p {
		if i == len(p)-1 {
			cur.Properties[e.Key] = *leaf
			return
		}
		next, ok := cur.Properties[e.Key]
		if !ok || next.Properties == nil {
			next = extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{}}
		}
		setSchemaAt(&next, p[i+1:], leaf)
		cur.Properties[e.Key] = next
		return
	}
}
