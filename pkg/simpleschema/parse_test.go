package simpleschema

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseField(t *testing.T) {
	tests := []struct {
		in   string
		want Field
	}{
		{"string", Field{Type: "string"}},
		{"  []string  ", Field{Type: "[]string"}},
		{"string |", Field{Type: "string"}},
		{"integer | required=true", Field{Type: "integer", Markers: []Marker{{"required", "true"}}}},
		{"integer|default=5   minimum=1\tmaximum=10", Field{Type: "integer", Markers: []Marker{
			{"default", "5"}, {"minimum", "1"}, {"maximum", "10"}}}},
		{`string | description="a value with spaces"`, Field{Type: "string", Markers: []Marker{{"description", "a value with spaces"}}}},
		{`string | description="say \"hi\"" required=true`, Field{Type: "string", Markers: []Marker{
			{"description", `say "hi"`}, {"required", "true"}}}},
		{`string | description=""`, Field{Type: "string", Markers: []Marker{{"description", ""}}}},
		{`string | pattern="^\d+(a|b)$"`, Field{Type: "string", Markers: []Marker{{"pattern", `^\d+(a|b)$`}}}},
		{`string | pattern=a|b`, Field{Type: "string", Markers: []Marker{{"pattern", "a|b"}}}},
		{`[]integer | default=[80, 443] minItems=1`, Field{Type: "[]integer", Markers: []Marker{
			{"default", "[80, 443]"}, {"minItems", "1"}}}},
		{`object | default={"a": {"b": [1, "}"]}}`, Field{Type: "object", Markers: []Marker{{"default", `{"a": {"b": [1, "}"]}}`}}}},
		{`object | default={}`, Field{Type: "object", Markers: []Marker{{"default", "{}"}}}},
		{`[]object | listType=map listMapKey=name listMapKey=port`, Field{Type: "[]object", Markers: []Marker{
			{"listType", "map"}, {"listMapKey", "name"}, {"listMapKey", "port"}}}},
		{`string | validation="self.startsWith('a') && size(self) > 2"`, Field{Type: "string", Markers: []Marker{
			{"validation", "self.startsWith('a') && size(self) > 2"}}}},
		{`string | default=a=b`, Field{Type: "string", Markers: []Marker{{"default", "a=b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseField(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseFieldErrors(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		is      []error
		markers []Marker
	}{
		{"string | foo=bar", `unknown marker "foo"`, []error{ErrUnknownMarker}, nil},
		{"string | Required=true", `unknown marker "Required"`, []error{ErrUnknownMarker}, nil},
		{"string | =bar", "empty marker key", []error{ErrEmptyMarkerKey}, nil},
		{"string | required", `marker key "required" without a value`, []error{ErrMarkerWithoutValue}, nil},
		{"string | required= minLength=1", `marker key "required" without a value`, []error{ErrMarkerWithoutValue},
			[]Marker{{"minLength", "1"}}},
		{`string | description="open`, `unclosed quote in the value of marker "description"`, []error{ErrUnclosedQuote}, nil},
		{`string | description="open\"`, `unclosed quote in the value of marker "description"`, []error{ErrUnclosedQuote}, nil},
		{`[]integer | default=[80`, `unclosed bracket/brace in the value of marker "default"`, []error{ErrUnclosedBracket}, nil},
		{`object | default={"a":[1}`, `unclosed bracket/brace in the value of marker "default"`, []error{ErrUnclosedBracket}, nil},
		{`object | default={"a":"}"`, `unclosed bracket/brace in the value of marker "default"`, []error{ErrUnclosedBracket}, nil},
		{"string | default=IRSA role for ACK", `marker "default": the value "IRSA role for ACK" has spaces and must be quoted, as in default="IRSA role for ACK"`,
			[]error{ErrUnquotedSpaces}, nil},
		{"string | required=true description=Role for the ACK controller minLength=1",
			`marker "description": the value "Role for the ACK controller" has spaces and must be quoted, as in description="Role for the ACK controller"`,
			[]error{ErrUnquotedSpaces}, []Marker{{"required", "true"}, {"minLength", "1"}}},
		{`string | default=say "hi" now`, `marker "default": the value "say \"hi\" now" has spaces and must be quoted, as in default="say \"hi\" now"`,
			[]error{ErrUnquotedSpaces}, nil},
		{"string | description=the default value", `marker "description": the value "the default value" has spaces and must be quoted, as in description="the default value"`,
			[]error{ErrUnquotedSpaces}, nil},
		{"boolean | required=true immutable", `marker key "immutable" without a value`, []error{ErrMarkerWithoutValue},
			[]Marker{{"required", "true"}}},
		{`[]integer | default=[80] ports here`, "marker key \"ports\" without a value\nmarker key \"here\" without a value",
			[]error{ErrMarkerWithoutValue}, []Marker{{"default", "[80]"}}},
		{"string | foo=1 required bar=2 minLength=3",
			"unknown marker \"foo\"\nmarker key \"required\" without a value\nunknown marker \"bar\"",
			[]error{ErrUnknownMarker, ErrMarkerWithoutValue}, []Marker{{"minLength", "3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseField(tt.in)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			for _, target := range tt.is {
				assert.True(t, errors.Is(err, target), "errors.Is(%v)", target)
			}
			assert.Equal(t, tt.markers, got.Markers)
		})
	}
}

func TestParseType(t *testing.T) {
	valid := []string{"string", "[]string", "map[string]integer", "map[ string ][]Person", "[][]map[string]float",
		"[]" + "[][][][][][][][][][][][][][]" + "[]string"} // depth 16
	for _, s := range valid {
		_, err := parseType(s)
		assert.NoError(t, err, s)
	}
	invalid := map[string]string{
		"":                                 "missing type",
		"[]":                               `type "[]": missing element type`,
		"map[string]":                      `type "map[string]": missing element type`,
		"map[int]string":                   `type "map[int]string": map key must be string, not "int"`,
		"map[string":                       `type "map[string": unclosed map key bracket`,
		"[]a b":                            `invalid type "a b"`,
		"[]" + repeat("[]", 16) + "string": `type "` + repeat("[]", 17) + `string" nests deeper than the maximum depth 16`,
	}
	for s, want := range invalid {
		_, err := parseType(s)
		if assert.Error(t, err, s) {
			assert.Equal(t, want, err.Error())
		}
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
