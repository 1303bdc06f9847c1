package simpleschema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Fixed rules and messages emitted by markers.
const (
	immutableRule     = "self == oldSelf"
	immutableMessage  = "field is immutable"
	validationMessage = "validation failed"
	listTypeAtomic    = "atomic"
	listTypeSet       = "set"
	listTypeMap       = "map"
)

// markerTarget says which OpenAPI types a marker applies to, and how to say so.
var markerTarget = map[string]struct {
	types []string
	what  string
}{
	MarkerEnum:        {[]string{"string", "integer"}, "string and integer types"},
	MarkerMinimum:     {[]string{"integer", "number"}, "integer and float types"},
	MarkerMaximum:     {[]string{"integer", "number"}, "integer and float types"},
	MarkerPattern:     {[]string{"string"}, "string types"},
	MarkerMinLength:   {[]string{"string"}, "string types"},
	MarkerMaxLength:   {[]string{"string"}, "string types"},
	MarkerMinItems:    {[]string{"array"}, "array types"},
	MarkerMaxItems:    {[]string{"array"}, "array types"},
	MarkerUniqueItems: {[]string{"array"}, "array types"},
	MarkerListType:    {[]string{"array"}, "array types"},
	MarkerListMapKey:  {[]string{"array"}, "array types"},
}

// markerResult is what a field's markers say beyond the schema itself.
type markerResult struct {
	// required is nil when no required= marker was given.
	required *bool
}

// applyMarkers applies markers to s, the schema of the field's type expression typ.
// path and def name the field in errors.
func applyMarkers(path *field.Path, def, typ string, s *apiextensionsv1.JSONSchemaProps, markers []Marker) (markerResult, field.ErrorList) {
	a := &markerApplier{path: path, def: def, typ: typ, s: s, seen: map[string]bool{}}
	for _, m := range markers {
		if a.admit(m) {
			a.apply(m)
		}
	}
	a.checkListType()
	a.checkRanges()
	a.applyDefault()
	return a.res, a.errs
}

// markerApplier applies the markers of one field to its schema s and collects
// the errors; path and def name the field in them.
type markerApplier struct {
	path     *field.Path
	def, typ string
	s        *apiextensionsv1.JSONSchemaProps

	res  markerResult
	errs field.ErrorList

	seen          map[string]bool // marker keys given so far
	defaultRaw    *string         // the default= value, applied last
	uniqueItems   bool
	listTypeGiven bool
}

// bad reports a problem with the marker key.
func (a *markerApplier) bad(key, format string, args ...any) {
	a.errs = append(a.errs, field.Invalid(a.path, a.def, fmt.Sprintf("marker %q: ", key)+fmt.Sprintf(format, args...)))
}

// admit reports whether m may be applied: it must not repeat a marker that
// may be given only once, and must suit the field's type.
func (a *markerApplier) admit(m Marker) bool {
	if a.seen[m.Key] && !knownMarkers[m.Key] {
		a.bad(m.Key, "given more than once")
		return false
	}
	a.seen[m.Key] = true
	if t, ok := markerTarget[m.Key]; ok && !slices.Contains(t.types, a.s.Type) {
		a.bad(m.Key, "only valid for %s, not %q", t.what, a.typ)
		return false
	}
	return true
}

// apply applies one admitted marker.
func (a *markerApplier) apply(m Marker) {
	s := a.s
	switch m.Key {
	case MarkerRequired:
		a.setRequired(m)
	case MarkerDefault:
		v := m.Value
		a.defaultRaw = &v
	case MarkerDescription:
		s.Description = m.Value
	case MarkerEnum:
		a.setEnum(m)
	case MarkerMinimum:
		a.setBound(m, &s.Minimum)
	case MarkerMaximum:
		a.setBound(m, &s.Maximum)
	case MarkerPattern:
		a.setPattern(m)
	case MarkerMinLength:
		a.setCount(m, &s.MinLength)
	case MarkerMaxLength:
		a.setCount(m, &s.MaxLength)
	case MarkerMinItems:
		a.setCount(m, &s.MinItems)
	case MarkerMaxItems:
		a.setCount(m, &s.MaxItems)
	case MarkerUniqueItems:
		a.setUniqueItems(m)
	case MarkerListType:
		a.setListType(m)
	case MarkerListMapKey:
		a.addListMapKey(m)
	case MarkerImmutable:
		a.addImmutableRule(m)
	case MarkerValidation:
		a.addValidationRule(m)
	}
}

// parseBool parses a true/false marker value.
func (a *markerApplier) parseBool(m Marker) (bool, bool) {
	switch m.Value {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	a.bad(m.Key, "value %q must be true or false", m.Value)
	return false, false
}

// setRequired records required=true|false in the result.
func (a *markerApplier) setRequired(m Marker) {
	if v, ok := a.parseBool(m); ok {
		a.res.required = &v
	}
}

// setEnum stores the enum values (see parseEnum).
func (a *markerApplier) setEnum(m Marker) {
	if enum, ok := parseEnum(m, a.s.Type, a.bad); ok {
		a.s.Enum = enum
	}
}

// setBound stores a finite number in *dst (minimum or maximum).
func (a *markerApplier) setBound(m Marker, dst **float64) {
	v, err := strconv.ParseFloat(m.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		a.bad(m.Key, "value %q must be a finite number", m.Value)
		return
	}
	*dst = &v
}

// setCount stores a non-negative integer in *dst (a length or item count).
func (a *markerApplier) setCount(m Marker, dst **int64) {
	v, err := strconv.ParseInt(m.Value, 10, 64)
	if err != nil || v < 0 {
		a.bad(m.Key, "value %q must be a non-negative integer", m.Value)
		return
	}
	*dst = &v
}

// setPattern stores a non-empty, valid regular expression.
func (a *markerApplier) setPattern(m Marker) {
	if m.Value == "" {
		a.bad(m.Key, "must not be empty")
	} else if _, err := regexp.Compile(m.Value); err != nil {
		a.bad(m.Key, "invalid regular expression: %v", err)
	} else {
		a.s.Pattern = m.Value
	}
}

// setUniqueItems records uniqueItems; checkListType turns it into listType=set.
func (a *markerApplier) setUniqueItems(m Marker) {
	if v, ok := a.parseBool(m); ok {
		a.uniqueItems = v
	}
}

// setListType stores listType=atomic|set|map.
func (a *markerApplier) setListType(m Marker) {
	switch m.Value {
	case listTypeAtomic, listTypeSet, listTypeMap:
		v := m.Value
		a.s.XListType = &v
		a.listTypeGiven = true
	default:
		a.bad(m.Key, "value %q must be one of atomic, set, map", m.Value)
	}
}

// addListMapKey appends a non-empty, not yet given listMapKey.
func (a *markerApplier) addListMapKey(m Marker) {
	switch {
	case m.Value == "":
		a.bad(m.Key, "must not be empty")
	case slices.Contains(a.s.XListMapKeys, m.Value):
		a.bad(m.Key, "duplicate key %q", m.Value)
	default:
		a.s.XListMapKeys = append(a.s.XListMapKeys, m.Value)
	}
}

// addImmutableRule adds the self == oldSelf rule for immutable=true.
func (a *markerApplier) addImmutableRule(m Marker) {
	if v, ok := a.parseBool(m); ok && v {
		a.s.XValidations = append(a.s.XValidations, apiextensionsv1.ValidationRule{Rule: immutableRule, Message: immutableMessage})
	}
}

// addValidationRule adds a non-blank CEL validation rule.
func (a *markerApplier) addValidationRule(m Marker) {
	if strings.TrimSpace(m.Value) == "" {
		a.bad(m.Key, "must not be empty")
	} else {
		a.s.XValidations = append(a.s.XValidations, apiextensionsv1.ValidationRule{Rule: m.Value, Message: validationMessage})
	}
}

// checkListType applies uniqueItems=true as listType=set and checks that
// listType and listMapKey agree.
func (a *markerApplier) checkListType() {
	s := a.s
	if a.uniqueItems {
		if a.listTypeGiven && *s.XListType != listTypeSet {
			a.bad(MarkerUniqueItems, "true conflicts with listType=%s", *s.XListType)
		} else {
			v := listTypeSet
			s.XListType = &v
		}
	}
	if len(s.XListMapKeys) > 0 && (s.XListType == nil || *s.XListType != listTypeMap) {
		a.bad(MarkerListMapKey, "requires listType=map")
	}
	if s.XListType != nil && *s.XListType == listTypeMap && len(s.XListMapKeys) == 0 {
		a.bad(MarkerListType, "map requires at least one listMapKey marker")
	}
}

// checkRanges checks that no lower bound exceeds its upper bound.
func (a *markerApplier) checkRanges() {
	s := a.s
	if s.Minimum != nil && s.Maximum != nil && *s.Minimum > *s.Maximum {
		a.bad(MarkerMinimum, "%v is greater than maximum %v", *s.Minimum, *s.Maximum)
	}
	if s.MinLength != nil && s.MaxLength != nil && *s.MinLength > *s.MaxLength {
		a.bad(MarkerMinLength, "%d is greater than maxLength %d", *s.MinLength, *s.MaxLength)
	}
	if s.MinItems != nil && s.MaxItems != nil && *s.MinItems > *s.MaxItems {
		a.bad(MarkerMinItems, "%d is greater than maxItems %d", *s.MinItems, *s.MaxItems)
	}
}

// applyDefault sets the default= value, last, so that it is checked against
// the schema with every other marker applied.
func (a *markerApplier) applyDefault() {
	if a.defaultRaw == nil {
		return
	}
	if err := setDefault(a.s, *a.defaultRaw); err != nil {
		a.bad(MarkerDefault, "%s", err)
	}
}

// setDefault parses raw for s's type, checks that it fits s and stores it.
func setDefault(s *apiextensionsv1.JSONSchemaProps, raw string) error {
	v, err := parseDefault(s, raw)
	if err != nil {
		return err
	}
	if problems := checkDefault(s, v); len(problems) > 0 {
		return fmt.Errorf("value %s does not fit the type: %s", raw, strings.Join(problems, "; "))
	}
	j, err := marshalDefault(v)
	if err != nil {
		return err
	}
	s.Default = j
	return nil
}

// parseEnum splits "a, b ,c" into trimmed enum values of the schema type.
func parseEnum(m Marker, typ string, bad func(string, string, ...any)) ([]apiextensionsv1.JSON, bool) {
	var out []apiextensionsv1.JSON
	ok := true
	for i, part := range strings.Split(m.Value, ",") {
		v := strings.TrimSpace(part)
		if v == "" {
			bad(m.Key, "value %d is empty", i+1)
			ok = false
			continue
		}
		if typ == "integer" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				bad(m.Key, "value %q is not an integer", v)
				ok = false
				continue
			}
			out = append(out, apiextensionsv1.JSON{Raw: []byte(strconv.FormatInt(n, 10))})
			continue
		}
		raw, _ := json.Marshal(v)
		out = append(out, apiextensionsv1.JSON{Raw: raw})
	}
	return out, ok
}
