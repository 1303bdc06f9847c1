package simpleschema

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// convert runs ToOpenAPI on YAML text and returns the schema and the error strings.
func convert(t *testing.T, specYAML, typesYAML string) (*apiextensionsv1.JSONSchemaProps, []string) {
	t.Helper()
	var spec, types map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(specYAML), &spec))
	require.NoError(t, yaml.Unmarshal([]byte(typesYAML), &types))
	s, errs := ToOpenAPI(spec, types, Options{})
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	if len(errs) > 0 {
		assert.Nil(t, s)
	}
	return s, msgs
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// field1 converts a spec with one field x and returns the JSON of x's schema.
func field1(t *testing.T, def, typesYAML string) (string, []string) {
	t.Helper()
	spec := map[string]any{"x": def}
	var types map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(typesYAML), &types))
	s, errs := ToOpenAPI(spec, types, Options{})
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	if s == nil {
		return "", msgs
	}
	return toJSON(t, s.Properties["x"]), msgs
}

func TestTypes(t *testing.T) {
	tests := []struct{ def, want string }{
		{"string", `{"type":"string"}`},
		{"integer", `{"type":"integer"}`},
		{"boolean", `{"type":"boolean"}`},
		{"float", `{"type":"number"}`},
		{"object", `{"type":"object","x-kubernetes-preserve-unknown-fields":true}`},
		{"[]string", `{"type":"array","items":{"type":"string"}}`},
		{"[][]integer", `{"type":"array","items":{"type":"array","items":{"type":"integer"}}}`},
		{"map[string]string", `{"type":"object","additionalProperties":{"type":"string"}}`},
		{"map[string][]string", `{"type":"object","additionalProperties":{"type":"array","items":{"type":"string"}}}`},
		{"[]map[string]float", `{"type":"array","items":{"type":"object","additionalProperties":{"type":"number"}}}`},
		{"map[string]object", `{"type":"object","additionalProperties":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}`},
		{"  string  |  ", `{"type":"string"}`},
	}
	for _, tt := range tests {
		t.Run(tt.def, func(t *testing.T) {
			got, errs := field1(t, tt.def, "")
			require.Empty(t, errs)
			assert.JSONEq(t, tt.want, got)
		})
	}
}

func TestTypeErrors(t *testing.T) {
	tests := []struct{ def, want string }{
		{"number", `spec.schema.spec.x: Invalid value: "number": unknown type: number (use "float" for numbers)`},
		{"Person", `spec.schema.spec.x: Invalid value: "Person": unknown type: Person`},
		{"[]Missing", `spec.schema.spec.x: Invalid value: "[]Missing": unknown type: Missing`},
		{"map[integer]string", `spec.schema.spec.x: Invalid value: "map[integer]string": type "map[integer]string": map key must be string, not "integer"`},
		{"", `spec.schema.spec.x: Invalid value: "": missing type`},
		{"| required=true", `spec.schema.spec.x: Invalid value: "| required=true": missing type`},
		{"[]", `spec.schema.spec.x: Invalid value: "[]": type "[]": missing element type`},
	}
	for _, tt := range tests {
		t.Run(tt.def, func(t *testing.T) {
			_, errs := field1(t, tt.def, "")
			assert.Equal(t, []string{tt.want}, errs)
		})
	}
}

func TestMarkers(t *testing.T) {
	tests := []struct{ def, want string }{
		{"string | description=\"The name\"", `{"type":"string","description":"The name"}`},
		{"string | enum=\"a, b ,c\"", `{"type":"string","enum":["a","b","c"]}`},
		{"integer | enum=\"1,2, 3\"", `{"type":"integer","enum":[1,2,3]}`},
		{"integer | minimum=1 maximum=10", `{"type":"integer","minimum":1,"maximum":10}`},
		{"float | minimum=0.5 maximum=1e3", `{"type":"number","minimum":0.5,"maximum":1000}`},
		{`string | pattern="^[a-z]+$"`, `{"type":"string","pattern":"^[a-z]+$"}`},
		{"string | minLength=1 maxLength=63", `{"type":"string","minLength":1,"maxLength":63}`},
		{"[]string | minItems=1 maxItems=5", `{"type":"array","minItems":1,"maxItems":5,"items":{"type":"string"}}`},
		{"[]string | uniqueItems=true", `{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}}`},
		{"[]string | uniqueItems=false", `{"type":"array","items":{"type":"string"}}`},
		{"[]string | uniqueItems=true listType=set", `{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}}`},
		{"[]string | listType=atomic", `{"type":"array","x-kubernetes-list-type":"atomic","items":{"type":"string"}}`},
		{"[]object | listType=map listMapKey=name listMapKey=port",
			`{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name","port"],"items":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}`},
		{"string | immutable=true", `{"type":"string","x-kubernetes-validations":[{"rule":"self == oldSelf","message":"field is immutable"}]}`},
		{"string | immutable=false", `{"type":"string"}`},
		{`string | validation="self.startsWith('a')"`, `{"type":"string","x-kubernetes-validations":[{"rule":"self.startsWith('a')","message":"validation failed"}]}`},
		{`string | immutable=true validation="size(self) > 1" validation="self != 'b'"`,
			`{"type":"string","x-kubernetes-validations":[{"rule":"self == oldSelf","message":"field is immutable"},{"rule":"size(self) > 1","message":"validation failed"},{"rule":"self != 'b'","message":"validation failed"}]}`},
		{"string | required=false", `{"type":"string"}`},
	}
	for _, tt := range tests {
		t.Run(tt.def, func(t *testing.T) {
			got, errs := field1(t, tt.def, "")
			require.Empty(t, errs)
			assert.JSONEq(t, tt.want, got)
		})
	}
}

func TestMarkerErrors(t *testing.T) {
	tests := []struct {
		def  string
		want []string
	}{
		{"string | foo=1", []string{`unknown marker "foo"`}},
		{"string | =1", []string{`empty marker key`}},
		{"string | required", []string{`marker key "required" without a value`}},
		{`string | description="x`, []string{`unclosed quote in the value of marker "description"`}},
		{`[]string | default=["x"`, []string{`unclosed bracket/brace in the value of marker "default"`}},
		{"string | required=yes", []string{`marker "required": value "yes" must be true or false`}},
		{"string | required=true required=false", []string{`marker "required": given more than once`}},
		{"boolean | enum=\"true\"", []string{`marker "enum": only valid for string and integer types, not "boolean"`}},
		{"[]string | enum=\"a\"", []string{`marker "enum": only valid for string and integer types, not "[]string"`}},
		{"string | enum=\"a,,b\"", []string{`marker "enum": value 2 is empty`}},
		{"string | enum=\"\"", []string{`marker "enum": value 1 is empty`}},
		{"integer | enum=\"1,x\"", []string{`marker "enum": value "x" is not an integer`}},
		{"string | minimum=1", []string{`marker "minimum": only valid for integer and float types, not "string"`}},
		{"integer | maximum=ten", []string{`marker "maximum": value "ten" must be a finite number`}},
		{"integer | minimum=NaN", []string{`marker "minimum": value "NaN" must be a finite number`}},
		{"integer | minimum=5 maximum=1", []string{`marker "minimum": 5 is greater than maximum 1`}},
		{"integer | pattern=a", []string{`marker "pattern": only valid for string types, not "integer"`}},
		{`string | pattern=""`, []string{`marker "pattern": must not be empty`}},
		{`string | pattern="(a"`, []string{"marker \"pattern\": invalid regular expression: error parsing regexp: missing closing ): `(a`"}},
		{"integer | minLength=1", []string{`marker "minLength": only valid for string types, not "integer"`}},
		{"string | maxLength=-1", []string{`marker "maxLength": value "-1" must be a non-negative integer`}},
		{"string | minLength=5 maxLength=1", []string{`marker "minLength": 5 is greater than maxLength 1`}},
		{"string | minItems=1", []string{`marker "minItems": only valid for array types, not "string"`}},
		{"[]string | maxItems=x", []string{`marker "maxItems": value "x" must be a non-negative integer`}},
		{"[]string | minItems=3 maxItems=2", []string{`marker "minItems": 3 is greater than maxItems 2`}},
		{"string | uniqueItems=true", []string{`marker "uniqueItems": only valid for array types, not "string"`}},
		{"[]string | uniqueItems=1", []string{`marker "uniqueItems": value "1" must be true or false`}},
		{"[]string | uniqueItems=true listType=atomic", []string{`marker "uniqueItems": true conflicts with listType=atomic`}},
		{"string | listType=set", []string{`marker "listType": only valid for array types, not "string"`}},
		{"[]string | listType=bag", []string{`marker "listType": value "bag" must be one of atomic, set, map`}},
		{"[]object | listType=map", []string{`marker "listType": map requires at least one listMapKey marker`}},
		{"[]object | listMapKey=name", []string{`marker "listMapKey": requires listType=map`}},
		{"[]object | listType=set listMapKey=name", []string{`marker "listMapKey": requires listType=map`}},
		{"[]object | listType=map listMapKey=name listMapKey=name", []string{`marker "listMapKey": duplicate key "name"`}},
		{`[]object | listType=map listMapKey=""`, []string{`marker "listMapKey": must not be empty`, `marker "listType": map requires at least one listMapKey marker`}},
		{"string | immutable=yes", []string{`marker "immutable": value "yes" must be true or false`}},
		{`string | validation=""`, []string{`marker "validation": must not be empty`}},
		{"integer | pattern=a minLength=1 foo=2", []string{
			`unknown marker "foo"`,
			`marker "pattern": only valid for string types, not "integer"`,
			`marker "minLength": only valid for string types, not "integer"`}},
	}
	for _, tt := range tests {
		t.Run(tt.def, func(t *testing.T) {
			_, errs := field1(t, tt.def, "")
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = "spec.schema.spec.x: Invalid value: " + quote(tt.def) + ": " + w
			}
			assert.Equal(t, want, errs)
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestDefaults(t *testing.T) {
	tests := []struct{ def, types, want string }{
		{"string | default=foo", "", `{"type":"string","default":"foo"}`},
		{`string | default="hello world"`, "", `{"type":"string","default":"hello world"}`},
		{`string | default="say \"hi\""`, "", `{"type":"string","default":"say \"hi\""}`},
		{`string | default=""`, "", `{"type":"string","default":""}`},
		{"string | default=80", "", `{"type":"string","default":"80"}`},
		{"integer | default=80", "", `{"type":"integer","default":80}`},
		{"integer | default=-3", "", `{"type":"integer","default":-3}`},
		{"float | default=1.5", "", `{"type":"number","default":1.5}`},
		{"float | default=2", "", `{"type":"number","default":2}`},
		{"boolean | default=true", "", `{"type":"boolean","default":true}`},
		{"boolean | default=false", "", `{"type":"boolean","default":false}`},
		{"[]integer | default=[80]", "", `{"type":"array","default":[80],"items":{"type":"integer"}}`},
		{`[]string | default=["a", "b"]`, "", `{"type":"array","default":["a","b"],"items":{"type":"string"}}`},
		{`map[string]string | default={"a":"b"}`, "", `{"type":"object","default":{"a":"b"},"additionalProperties":{"type":"string"}}`},
		{`object | default={"any":{"thing":[1,true]}}`, "", `{"type":"object","default":{"any":{"thing":[1,true]}},"x-kubernetes-preserve-unknown-fields":true}`},
		{"object | default={}", "", `{"type":"object","default":{},"x-kubernetes-preserve-unknown-fields":true}`},
		{"string | enum=\"a,b\" default=b", "", `{"type":"string","default":"b","enum":["a","b"]}`},
		{"Port | default=8080", "Port: integer | minimum=1", `{"type":"integer","default":8080,"minimum":1}`},
		{`Person | default={"name":"bob"}`, "Person: {name: string | required=true}",
			`{"type":"object","default":{"name":"bob"},"required":["name"],"properties":{"name":{"type":"string"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.def, func(t *testing.T) {
			got, errs := field1(t, tt.def, tt.types)
			require.Empty(t, errs)
			assert.JSONEq(t, tt.want, got)
		})
	}
}

func TestDefaultErrors(t *testing.T) {
	tests := []struct{ def, types, want string }{
		{"integer | default=abc", "", `"abc" is not an integer`},
		{"integer | default=1.5", "", `"1.5" is not an integer`},
		{"float | default=x", "", `"x" is not a finite number`},
		{"float | default=Inf", "", `"Inf" is not a finite number`},
		{"boolean | default=maybe", "", `"maybe" is not a boolean (true or false)`},
		{"[]integer | default=80", "", `value 80 does not fit the type: Invalid value: "integer": in body must be of type array: "integer"`},
		{`[]integer | default=["a"]`, "", `value ["a"] does not fit the type: [0]: Invalid value: "string": [0] in body must be of type integer: "string"`},
		{"[]integer | default=[1,]", "", `"[1,]" is not valid JSON: invalid character ']' looking for beginning of value`},
		{"object | default=null", "", `must not be null`},
		{"object | default=[]", "", `value [] does not fit the type: Invalid value: "array": in body must be of type object: "array"`},
		{"string | enum=\"a,b\" default=c", "", `value c does not fit the type: Unsupported value: "c": supported values: "a", "b"`},
		{"integer | minimum=10 default=5", "", `value 5 does not fit the type: Invalid value: 5: in body should be greater than or equal to 10`},
		{`string | pattern="^a" default=b`, "", `value b does not fit the type: Invalid value: "b": in body should match '^a'`},
		{`string | maxLength=1 default=abc`, "", `value abc does not fit the type: Too long: may not be more than 1 byte`},
		{`[]integer | maxItems=1 default=[1,2]`, "", `value [1,2] does not fit the type: Too many: 2: must have at most 1 item`},
		{`Person | default={"name":"bob","age":3}`, "Person: {name: string}", `value {"name":"bob","age":3} does not fit the type: must not have unknown fields`},
		{`Person | default={}`, "Person: {name: string | required=true}", `value {} does not fit the type: name: Required value`},
		{`Person | default={"name":1}`, "Person: {name: string}", `value {"name":1} does not fit the type: name: Invalid value: "integer": name in body must be of type string: "integer"`},
	}
	for _, tt := range tests {
		t.Run(tt.def, func(t *testing.T) {
			_, errs := field1(t, tt.def, tt.types)
			assert.Equal(t, []string{"spec.schema.spec.x: Invalid value: " + quote(tt.def) + `: marker "default": ` + tt.want}, errs)
		})
	}
}

func TestNilAndEmptySpec(t *testing.T) {
	s, errs := ToOpenAPI(nil, nil, Options{})
	require.Empty(t, errs)
	assert.JSONEq(t, `{"type":"object"}`, toJSON(t, s))
	s, errs = ToOpenAPI(map[string]any{}, map[string]any{}, Options{})
	require.Empty(t, errs)
	assert.JSONEq(t, `{"type":"object"}`, toJSON(t, s))
}

func TestRequiredIsSorted(t *testing.T) {
	s, errs := convert(t, `
zeta: string | required=true
alpha: string | required=true
mid: string
beta: integer | required=true
nested:
  b: string | required=true
  a: string | required=true
`, "")
	require.Empty(t, errs)
	assert.Equal(t, []string{"alpha", "beta", "zeta"}, s.Required)
	assert.Equal(t, []string{"a", "b"}, s.Properties["nested"].Required)
}

func TestObjectDefaultEmpty(t *testing.T) {
	s, errs := convert(t, `
withDefault:
  a: integer | default=1
  b: string
withRequired:
  a: integer | default=1
  b: string | required=true
noDefaults:
  a: string
deep:
  mid:
    leaf: string | default=x
deepRequired:
  mid:
    leaf: string | required=true
    other: string | default=x
explicit:
  a: integer | default=1
mapOfDefaults: map[string]Defaulted
person: Defaulted
`, `
Defaulted:
  a: integer | default=1
`)
	require.Empty(t, errs)
	p := s.Properties
	assert.JSONEq(t, `{}`, string(p["withDefault"].Default.Raw))
	assert.Nil(t, p["withRequired"].Default)
	assert.Nil(t, p["noDefaults"].Default)
	assert.JSONEq(t, `{}`, string(p["deep"].Default.Raw))
	assert.JSONEq(t, `{}`, string(p["deep"].Properties["mid"].Default.Raw))
	assert.Nil(t, p["deepRequired"].Properties["mid"].Default)
	// mid has a required child, so it is required of nobody and has no default: deepRequired has none either.
	assert.Nil(t, p["deepRequired"].Default)
	assert.Nil(t, p["mapOfDefaults"].Default, "maps are not structs")
	assert.JSONEq(t, `{}`, string(p["mapOfDefaults"].AdditionalProperties.Schema.Default.Raw))
	assert.JSONEq(t, `{}`, string(p["person"].Default.Raw))
	// The root spec gets {} too, since no field is required and some have defaults.
	assert.JSONEq(t, `{}`, string(s.Default.Raw))
}

func TestCustomTypes(t *testing.T) {
	s, errs := convert(t, `
owner: Person
team: "[]Person | minItems=1"
byName: map[string]Person
port: Port
ports: "[]Port"
name: Name | required=false
main: Port | description="main port"
`, `
Person:
  name: Name
  address: Address
  age: integer | minimum=0
Address:
  street: string
  city: string | default=Paris
Name: string | required=true minLength=1
Port: Number | maximum=65535
Number: integer | minimum=1 required=true
`)
	require.Empty(t, errs)
	// Name is required wherever it is used directly, unless the field says otherwise.
	assert.Equal(t, []string{"main", "port"}, s.Required)
	assert.JSONEq(t, `{"type":"object","required":["name"],"properties":{
		"name":{"type":"string","minLength":1},
		"age":{"type":"integer","minimum":0},
		"address":{"type":"object","default":{},"properties":{"street":{"type":"string"},"city":{"type":"string","default":"Paris"}}}}}`,
		toJSON(t, s.Properties["owner"]))
	assert.Equal(t, int64(1), *s.Properties["team"].MinItems)
	assert.Equal(t, s.Properties["owner"], *s.Properties["team"].Items.Schema)
	assert.Equal(t, s.Properties["owner"], *s.Properties["byName"].AdditionalProperties.Schema)
	assert.JSONEq(t, `{"type":"integer","minimum":1,"maximum":65535}`, toJSON(t, s.Properties["port"]))
	assert.JSONEq(t, `{"type":"integer","description":"main port","minimum":1,"maximum":65535}`, toJSON(t, s.Properties["main"]))
	assert.JSONEq(t, `{"type":"array","items":{"type":"integer","minimum":1,"maximum":65535}}`, toJSON(t, s.Properties["ports"]))
	// Each use is a copy: a marker on one use does not leak into the type.
	assert.Empty(t, s.Properties["port"].Description)
}

func TestCustomTypeErrors(t *testing.T) {
	tests := []struct {
		name, spec, types string
		want              []string
	}{
		{"self cycle", "a: A", "A: {next: A}", []string{
			`spec.schema.types.A: Invalid value: cyclic dependency in type A: the type uses itself`}},
		{"self cycle via list", "a: string", `A: "[]A"`, []string{
			`spec.schema.types.A: Invalid value: cyclic dependency in type A: the type uses itself`}},
		{"two cycles and a user", "a: C", `
A: {b: B}
B: {a: "map[string]A"}
C: {a: A, ok: string}
P: "[]Q"
Q: {p: P}
`, []string{
			`spec.schema.types.A: Invalid value: cyclic dependency in type A: graph contains a cycle among types A, B`,
			`spec.schema.types.P: Invalid value: cyclic dependency in type P: graph contains a cycle among types P, Q`}},
		{"unknown type inside a type", "a: A", "A: {b: Missing}", []string{
			`spec.schema.types.A.b: Invalid value: "Missing": unknown type: Missing`}},
		{"bad marker inside a type reported once", "a: A\nb: '[]A'", "A: integer | pattern=x", []string{
			`spec.schema.types.A: Invalid value: "integer | pattern=x": marker "pattern": only valid for string types, not "integer"`}},
		{"builtin name", "a: string", "string: integer", []string{
			`spec.schema.types.string: Invalid value: "string": type name "string" is a built-in type`}},
		{"bracket name", "a: string", `"[]Foo": integer`, []string{
			`spec.schema.types.[]Foo: Invalid value: "[]Foo": type name must be a plain name without brackets, spaces, quotes or '|'`}},
		{"non-string type", "a: string", "A: 5", []string{
			`spec.schema.types.A: Invalid value: must be a string (a field definition such as "string | required=true") or a map of fields, not the number 5`}},
		{"list type", "a: string", "A: [a, b]", []string{
			`spec.schema.types.A: Invalid value: must be a string (a field definition such as "string | required=true") or a map of fields, not a list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := convert(t, tt.spec, tt.types)
			assert.Equal(t, tt.want, errs)
		})
	}
}

func TestBadSpecValues(t *testing.T) {
	_, errs := convert(t, `
count: 5
flag: true
list: [a]
empty:
nested:
  deeper: 1.5
  ok: string
  bad: integer | nope=1
`, "")
	const tail = `: Invalid value: must be a string (a field definition such as "string | required=true") or a map of fields, not `
	assert.Equal(t, []string{
		"spec.schema.spec.count" + tail + "the number 5",
		"spec.schema.spec.empty" + tail + "null",
		"spec.schema.spec.flag" + tail + "the boolean true",
		"spec.schema.spec.list" + tail + "a list",
		`spec.schema.spec.nested.bad: Invalid value: "integer | nope=1": unknown marker "nope"`,
		"spec.schema.spec.nested.deeper" + tail + "the number 1.5",
	}, errs)
}

func TestOptionsPaths(t *testing.T) {
	_, errs := ToOpenAPI(map[string]any{"a": "Nope"}, map[string]any{"T": "integer | foo=1"}, Options{
		SpecPath:  field.NewPath("schema", "spec"),
		TypesPath: field.NewPath("schema", "types"),
	})
	require.Len(t, errs, 2)
	assert.Equal(t, "schema.types.T", errs[0].Field)
	assert.Equal(t, "schema.spec.a", errs[1].Field)
}

func TestSchemaTooLarge(t *testing.T) {
	// Each type uses the previous one four times: 4^12 nodes if fully expanded.
	types := map[string]any{"T0": map[string]any{"a": "string"}}
	for i := 1; i <= 12; i++ {
		prev := "T" + itoa(i-1)
		types["T"+itoa(i)] = map[string]any{"a": prev, "b": prev, "c": prev, "d": prev}
	}
	_, errs := ToOpenAPI(map[string]any{"x": "T12"}, types, Options{})
	require.NotEmpty(t, errs)
	assert.Contains(t, errs[0].Error(), "schema too large")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestDeterministic(t *testing.T) {
	spec := `
a: string | required=true
b: {c: integer | default=1, d: "[]string | required=true"}
e: Person
f: map[string]Person
`
	types := "Person: {name: string | required=true, nick: string | default=x}\nOther: {p: Person}"
	first, errs := convert(t, spec, types)
	require.Empty(t, errs)
	for range 20 {
		again, _ := convert(t, spec, types)
		assert.Equal(t, toJSON(t, first), toJSON(t, again))
	}
}
