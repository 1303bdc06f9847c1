package simpleschema

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// parseDefault turns a default= marker value into a JSON value of the schema's type:
// strings are taken as they are, integers, numbers and booleans are parsed, and arrays
// and objects are raw JSON.
func parseDefault(s *apiextensionsv1.JSONSchemaProps, raw string) (any, error) {
	switch s.Type {
	case "string":
		return raw, nil
	case "integer":
		v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", raw)
		}
		return v, nil
	case "number":
		v, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%q is not a finite number", raw)
		}
		return v, nil
	case "boolean":
		v, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean (true or false)", raw)
		}
		return v, nil
	default: // array, object
		var v any
		if err := utiljson.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("%q is not valid JSON: %v", raw, err)
		}
		if v == nil {
			return nil, fmt.Errorf("must not be null")
		}
		return v, nil
	}
}

// checkDefault reports how value fails to fit schema s, the way the API server checks
// CRD defaults: no unknown fields, and valid against the OpenAPI constraints.
func checkDefault(s *apiextensionsv1.JSONSchemaProps, value any) []string {
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(s, internal, nil); err != nil {
		return []string{fmt.Sprintf("cannot check the default: %v", err)}
	}
	ss, err := structuralschema.NewStructural(internal)
	if err != nil {
		return []string{fmt.Sprintf("cannot check the default: %v", err)}
	}
	var problems []string
	pruned := runtime.DeepCopyJSONValue(value)
	pruning.Prune(pruned, ss, false)
	if !reflect.DeepEqual(pruned, value) {
		problems = append(problems, "must not have unknown fields")
	}
	validator := apiservervalidation.NewSchemaValidatorFromOpenAPI(ss.ToKubeOpenAPI())
	root := field.NewPath("default")
	var found []string
	for _, e := range apiservervalidation.ValidateCustomResource(root, value, validator) {
		body := strings.Join(strings.Fields(e.ErrorBody()), " ")
		if at := strings.TrimPrefix(strings.TrimPrefix(e.Field, root.String()), "."); at != "" {
			body = at + ": " + body
		}
		found = append(found, body)
	}
	sort.Strings(found)
	return append(problems, found...)
}

// marshalDefault returns the JSON form of a default value.
func marshalDefault(v any) (*apiextensionsv1.JSON, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &apiextensionsv1.JSON{Raw: raw}, nil
}
