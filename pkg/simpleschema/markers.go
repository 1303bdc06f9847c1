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
	var (
		res           markerResult
		errs          field.ErrorList
		seen          = map[string]bool{}
		defaultRaw    *string
		uniqueItems   bool
		listTypeGiven bool
	)
	bad := func(key, format string, args ...any) {
		errs = append(errs, field.Invalid(path, def, fmt.Sprintf("marker %q: ", key)+fmt.Sprintf(format, args...)))
	}
	parseBool := func(m Marker) (bool, bool) {
		switch m.Value {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		bad(m.Key, "value %q must be true or false", m.Value)
		return false, false
	}
	parseCount := func(m Marker) (*int64, bool) {
		v, err := strconv.ParseInt(m.Value, 10, 64)
		if err != nil || v < 0 {
			bad(m.Key, "value %q must be a non-negative integer", m.Value)
			return nil, false
		}
		return &v, true
	}
	parseBound := func(m Marker) (*float64, bool) {
		v, err := strconv.ParseFloat(m.Value, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			bad(m.Key, "value %q must be a finite number", m.Value)
			return nil, false
		}
		return &v, true
	}

	for _, m := range markers {
		if seen[m.Key] && !knownMarkers[m.Key] {
			bad(m.Key, "given more than once")
			continue
		}
		seen[m.Key] = true
		if t, ok := markerTarget[m.Key]; ok && !slices.Contains(t.types, s.Type) {
			bad(m.Key, "only valid for %s, not %q", t.what, typ)
			continue
		}
		switch m.Key {
		case MarkerRequired:
			if v, ok := parseBool(m); ok {
				res.required = &v
			}
		case MarkerDefault:
			v := m.Value
			defaultRaw = &v
		case MarkerDescription:
			s.Description = m.Value
		case MarkerEnum:
			if enum, ok := parseEnum(m, s.Type, bad); ok {
				s.Enum = enum
			}
		case MarkerMinimum:
			if v, ok := parseBound(m); ok {
				s.Minimum = v
			}
		case MarkerMaximum:
			if v, ok := parseBound(m); ok {
				s.Maximum = v
			}
		case MarkerPattern:
			if m.Value == "" {
				bad(m.Key, "must not be empty")
			} else if _, err := regexp.Compile(m.Value); err != nil {
				bad(m.Key, "invalid regular expression: %v", err)
			} else {
				s.Pattern = m.Value
			}
		case MarkerMinLength:
			if v, ok := parseCount(m); ok {
				s.MinLength = v
			}
		case MarkerMaxLength:
			if v, ok := parseCount(m); ok {
				s.MaxLength = v
			}
		case MarkerMinItems:
			if v, ok := parseCount(m); ok {
				s.MinItems = v
			}
		case MarkerMaxItems:
			if v, ok := parseCount(m); ok {
				s.MaxItems = v
			}
		case MarkerUniqueItems:
			if v, ok := parseBool(m); ok {
				uniqueItems = v
			}
		case MarkerListType:
			switch m.Value {
			case listTypeAtomic, listTypeSet, listTypeMap:
				v := m.Value
				s.XListType = &v
				listTypeGiven = true
			default:
				bad(m.Key, "value %q must be one of atomic, set, map", m.Value)
			}
		case MarkerListMapKey:
			switch {
			case m.Value == "":
				bad(m.Key, "must not be empty")
			case slices.Contains(s.XListMapKeys, m.Value):
				bad(m.Key, "duplicate key %q", m.Value)
			default:
				s.XListMapKeys = append(s.XListMapKeys, m.Value)
			}
		case MarkerImmutable:
			if v, ok := parseBool(m); ok && v {
				s.XValidations = append(s.XValidations, apiextensionsv1.ValidationRule{Rule: immutableRule, Message: immutableMessage})
			}
		case MarkerValidation:
			if strings.TrimSpace(m.Value) == "" {
				bad(m.Key, "must not be empty")
			} else {
				s.XValidations = append(s.XValidations, apiextensionsv1.ValidationRule{Rule: m.Value, Message: validationMessage})
			}
		}
	}

	if uniqueItems {
		if listTypeGiven && *s.XListType != listTypeSet {
			bad(MarkerUniqueItems, "true conflicts with listType=%s", *s.XListType)
		} else {
			v := listTypeSet
			s.XListType = &v
		}
	}
	if len(s.XListMapKeys) > 0 && (s.XListType == nil || *s.XListType != listTypeMap) {
		bad(MarkerListMapKey, "requires listType=map")
	}
	if s.XListType != nil && *s.XListType == listTypeMap && len(s.XListMapKeys) == 0 {
		bad(MarkerListType, "map requires at least one listMapKey marker")
	}
	if s.Minimum != nil && s.Maximum != nil && *s.Minimum > *s.Maximum {
		bad(MarkerMinimum, "%v is greater than maximum %v", *s.Minimum, *s.Maximum)
	}
	if s.MinLength != nil && s.MaxLength != nil && *s.MinLength > *s.MaxLength {
		bad(MarkerMinLength, "%d is greater than maxLength %d", *s.MinLength, *s.MaxLength)
	}
	if s.MinItems != nil && s.MaxItems != nil && *s.MinItems > *s.MaxItems {
		bad(MarkerMinItems, "%d is greater than maxItems %d", *s.MinItems, *s.MaxItems)
	}

	if defaultRaw != nil {
		if err := setDefault(s, *defaultRaw); err != nil {
			bad(MarkerDefault, "%s", err)
		}
	}
	return res, errs
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
