package graph

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/celenv"
)

// External references by selector. A selector is a metav1.LabelSelector
// written literally (its values may hold expressions) or one expression that
// returns one. Its shape is checked by one function, checkSelector: on the
// literal parts when an RGD compiles, and on the whole rendered value at
// every reconcile (LabelSelector), so that a selector of the wrong shape is
// an error and never a selector that matches everything.

// selectorOperators are the operators of a label selector requirement.
var selectorOperators = []metav1.LabelSelectorOperator{
	metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist,
}

// LabelSelector turns a rendered externalRef selector into a labels.Selector.
// v must have the shape of a metav1.LabelSelector: an object with only
// matchLabels (label keys to label values) and matchExpressions (each a key,
// an operator In, NotIn, Exists or DoesNotExist, and values when the operator
// takes them). An empty object matches everything, as in Kubernetes.
// Anything else (a misspelled field, a bare map of labels, a string, null) is
// an error listing every problem, each at its path under path.
func LabelSelector(v any, path *field.Path) (labels.Selector, error) {
	if errs := checkSelector(v, path, nil); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	ls := &metav1.LabelSelector{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(v.(map[string]any), ls); err != nil {
		return nil, field.Invalid(path, v, err.Error())
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, field.Invalid(path, v, err.Error())
	}
	return sel, nil
}

// checkSelector reports every way v differs from a label selector. pending,
// when set, tells values still to be computed (expressions, at compile time):
// they are checked once rendered.
func checkSelector(v any, path *field.Path, pending func(any) bool) field.ErrorList {
	if pending != nil && pending(v) {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return field.ErrorList{field.Invalid(path, v, "expected a label selector: an object with matchLabels and/or matchExpressions")}
	}
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch k {
		case "matchLabels":
			errs = append(errs, checkMatchLabels(m[k], path.Child(k), pending)...)
		case "matchExpressions":
			errs = append(errs, checkMatchExpressions(m[k], path.Child(k), pending)...)
		default:
			errs = append(errs, field.Forbidden(path.Child(k), unknownSelectorField(m)))
		}
	}
	return errs
}

// unknownSelectorField explains an unknown field of selector m, with a hint
// when m looks like a bare map of labels.
func unknownSelectorField(m map[string]any) string {
	msg := "not a field of a label selector, which has only matchLabels and matchExpressions"
	_, hasLabels := m["matchLabels"]
	_, hasExprs := m["matchExpressions"]
	if hasLabels || hasExprs {
		return msg
	}
	for _, v := range m {
		if _, isString := v.(string); !isString {
			return msg
		}
	}
	return msg + " (a map of labels belongs under matchLabels)"
}

func checkMatchLabels(v any, path *field.Path, pending func(any) bool) field.ErrorList {
	if v == nil || pending != nil && pending(v) {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return field.ErrorList{field.Invalid(path, v, "expected a map of label keys to label values")}
	}
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(m)) {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(path, k, "not a valid label key: "+msg))
		}
		errs = append(errs, checkLabelValue(m[k], path.Key(k), pending)...)
	}
	return errs
}

func checkMatchExpressions(v any, path *field.Path, pending func(any) bool) field.ErrorList {
	if v == nil || pending != nil && pending(v) {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return field.ErrorList{field.Invalid(path, v, "expected a list of requirements {key, operator, values}")}
	}
	var errs field.ErrorList
	for i, item := range list {
		errs = append(errs, checkRequirement(item, path.Index(i), pending)...)
	}
	return errs
}

// checkRequirement checks one element of matchExpressions.
func checkRequirement(v any, path *field.Path, pending func(any) bool) field.ErrorList {
	if pending != nil && pending(v) {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return field.ErrorList{field.Invalid(path, v, "expected a requirement: an object with key, operator and values")}
	}
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k != "key" && k != "operator" && k != "values" {
			errs = append(errs, field.Forbidden(path.Child(k), "not a field of a label selector requirement, which has only key, operator and values"))
		}
	}
	errs = append(errs, checkRequirementKey(m["key"], path.Child("key"), pending)...)
	op, opErrs := checkOperator(m["operator"], path.Child("operator"), pending)
	errs = append(errs, opErrs...)
	values := m["values"]
	if pending != nil && pending(values) {
		return errs // how many values there are is known once rendered
	}
	if values != nil {
		list, isList := values.([]any)
		if !isList {
			return append(errs, field.Invalid(path.Child("values"), values, "expected a list of label values"))
		}
		for i, val := range list {
			errs = append(errs, checkLabelValue(val, path.Child("values").Index(i), pending)...)
		}
	}
	n := 0
	if list, isList := values.([]any); isList {
		n = len(list)
	}
	switch op {
	case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
		if n == 0 {
			errs = append(errs, field.Required(path.Child("values"), fmt.Sprintf("operator %s needs at least one value", op)))
		}
	case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
		if n > 0 {
			errs = append(errs, field.Forbidden(path.Child("values"), fmt.Sprintf("operator %s takes no values", op)))
		}
	}
	return errs
}

func checkRequirementKey(v any, path *field.Path, pending func(any) bool) field.ErrorList {
	if pending != nil && pending(v) {
		return nil
	}
	key, isString := v.(string)
	switch {
	case v == nil || isString && key == "":
		return field.ErrorList{field.Required(path, "a requirement needs the label key it applies to")}
	case !isString:
		return field.ErrorList{field.Invalid(path, v, "expected a label key (a string)")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(key) {
		errs = append(errs, field.Invalid(path, key, "not a valid label key: "+msg))
	}
	return errs
}

// checkOperator returns the operator of a requirement, empty when it is
// pending or wrong.
func checkOperator(v any, path *field.Path, pending func(any) bool) (metav1.LabelSelectorOperator, field.ErrorList) {
	if pending != nil && pending(v) {
		return "", nil
	}
	if v == nil {
		return "", field.ErrorList{field.Required(path, "a requirement needs an operator: In, NotIn, Exists or DoesNotExist")}
	}
	s, _ := v.(string)
	op := metav1.LabelSelectorOperator(s)
	if !slices.Contains(selectorOperators, op) {
		return "", field.ErrorList{field.NotSupported(path, v, selectorOperators)}
	}
	return op, nil
}

func checkLabelValue(v any, path *field.Path, pending func(any) bool) field.ErrorList {
	if pending != nil && pending(v) {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return field.ErrorList{field.Invalid(path, v, "expected a label value (a string)")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidLabelValue(s) {
		errs = append(errs, field.Invalid(path, s, "not a valid label value: "+msg))
	}
	return errs
}

// isExpressionValue reports whether a literal value of a template holds
// expressions: it is computed at run time.
func isExpressionValue(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "${")
}

// isSelectorPath reports whether p is an externalRef's whole selector.
func isSelectorPath(p Path) bool {
	return len(p) == 2 && p[0].Key == "metadata" && p[1].Key == "selector"
}

// selectorTypeError explains why an expression of type out cannot be a
// whole selector.
func selectorTypeError(env *celenv.Env, out *cel.Type) error {
	got := typeName(out)
	switch out.Kind() {
	case types.StringKind:
		got = "a string (a selector is an object, not the text form app=web)"
	case types.MapKind:
		if params := out.Parameters(); len(params) == 2 && params[1].Kind() == types.StringKind {
			got += " (a map of labels belongs under matchLabels)"
		}
	case types.StructKind:
		if dt, ok := env.FindDeclType(out.TypeName()); ok {
			got = "an object with the fields " + strings.Join(sortedFieldNames(dt), ", ")
		}
	}
	return fmt.Errorf("expected a label selector (an object with only matchLabels and matchExpressions), but the expression returns %s", got)
}

func sortedFieldNames(dt *apiservercel.DeclType) []string {
	names := make([]string, 0, len(dt.Fields))
	for n := range dt.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// externalRefSchema describes the object an externalRef stands for in its
// template: the schema its expressions are typed against.
func externalRefSchema() *spec.Schema {
	str := spec.StringProperty()
	requirement := &spec.Schema{SchemaProps: spec.SchemaProps{
		Type: spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{
			"key":      *spec.StringProperty(),
			"operator": *spec.StringProperty(),
			"values":   *spec.ArrayProperty(spec.StringProperty()),
		},
	}}
	selector := spec.Schema{SchemaProps: spec.SchemaProps{
		Type: spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{
			"matchLabels":      *spec.MapProperty(spec.StringProperty()),
			"matchExpressions": *spec.ArrayProperty(requirement),
		},
	}}
	metadata := spec.Schema{SchemaProps: spec.SchemaProps{
		Type:       spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{"name": *str, "namespace": *str, "selector": selector},
	}}
	return &spec.Schema{SchemaProps: spec.SchemaProps{
		Type:       spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{"apiVersion": *str, "kind": *str, "metadata": metadata},
	}}
}

// schemaAt returns the schema of the value at p inside s, or nil when s does
// not describe it.
func schemaAt(s *spec.Schema, p Path) *spec.Schema {
	for _, e := range p {
		switch {
		case s == nil:
			return nil
		case e.Index >= 0:
			if s.Items == nil {
				return nil
			}
			s = s.Items.Schema
		default:
			if prop, ok := s.Properties[e.Key]; ok {
				s = &prop
			} else if s.AdditionalProperties != nil {
				s = s.AdditionalProperties.Schema
			} else {
				return nil
			}
		}
	}
	return s
}
