package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestLabelSelector checks the shape check of a rendered selector: a valid
// label selector becomes the labels.Selector it says, and anything else is
// an error naming every problem at its path, never a selector that matches
// everything.
func TestLabelSelector(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want string   // the selector, when valid
		errs []string // every problem, when not
	}{
		{name: "matchLabels", in: map[string]any{"matchLabels": map[string]any{"team": "blue", "tier": "web"}},
			want: "team=blue,tier=web"},
		{name: "matchExpressions", in: map[string]any{"matchExpressions": []any{
			map[string]any{"key": "team", "operator": "In", "values": []any{"blue", "red"}},
			map[string]any{"key": "legacy", "operator": "DoesNotExist"},
			map[string]any{"key": "tier", "operator": "NotIn", "values": []any{"db"}},
			map[string]any{"key": "app", "operator": "Exists", "values": nil},
		}}, want: "app,!legacy,team in (blue,red),tier notin (db)"},
		{name: "both", in: map[string]any{"matchLabels": map[string]any{"a": "1"}, "matchExpressions": []any{
			map[string]any{"key": "b", "operator": "Exists"},
		}}, want: "a=1,b"},
		{name: "empty: everything, as in Kubernetes", in: map[string]any{}, want: ""},
		{name: "null parts are absent", in: map[string]any{"matchLabels": nil, "matchExpressions": nil}, want: ""},
		{name: "misspelled matchLabel", in: map[string]any{"matchLabel": map[string]any{"team": "blue"}}, errs: []string{
			"metadata.selector.matchLabel: Forbidden: not a field of a label selector, which has only matchLabels and matchExpressions",
		}},
		{name: "bare map of labels", in: map[string]any{"team": "blue"}, errs: []string{
			"metadata.selector.team: Forbidden: not a field of a label selector, which has only matchLabels and matchExpressions (a map of labels belongs under matchLabels)",
		}},
		{name: "string", in: "team=blue", errs: []string{
			`metadata.selector: Invalid value: "team=blue": expected a label selector: an object with matchLabels and/or matchExpressions`,
		}},
		{name: "null", in: nil, errs: []string{
			`metadata.selector: Invalid value: null: expected a label selector: an object with matchLabels and/or matchExpressions`,
		}},
		{name: "list", in: []any{"team"}, errs: []string{
			`metadata.selector: Invalid value: ["team"]: expected a label selector: an object with matchLabels and/or matchExpressions`,
		}},
		{name: "wrong parts", in: map[string]any{
			"matchLabels":      map[string]any{"team": int64(1), "bad key": "x", "ok": "not valid!"},
			"matchExpressions": map[string]any{"key": "team"},
		}, errs: []string{
			`metadata.selector.matchExpressions: Invalid value: {"key":"team"}: expected a list of requirements {key, operator, values}`,
			`metadata.selector.matchLabels: Invalid value: "bad key": not a valid label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
			`metadata.selector.matchLabels[ok]: Invalid value: "not valid!": not a valid label value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
			`metadata.selector.matchLabels[team]: Invalid value: 1: expected a label value (a string)`,
		}},
		{name: "wrong requirements", in: map[string]any{"matchExpressions": []any{
			map[string]any{"key": "team", "operator": "Equals", "values": []any{"blue"}},
			map[string]any{"key": "team", "operator": "In"},
			map[string]any{"key": "team", "operator": "Exists", "values": []any{"blue"}},
			map[string]any{"operator": "In", "value": []any{"blue"}},
			map[string]any{"key": "team", "values": "blue"},
			"team=blue",
		}}, errs: []string{
			`metadata.selector.matchExpressions[0].operator: Unsupported value: "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist"`,
			`metadata.selector.matchExpressions[1].values: Required value: operator In needs at least one value`,
			`metadata.selector.matchExpressions[2].values: Forbidden: operator Exists takes no values`,
			`metadata.selector.matchExpressions[3].value: Forbidden: not a field of a label selector requirement, which has only key, operator and values`,
			`metadata.selector.matchExpressions[3].key: Required value: a requirement needs the label key it applies to`,
			`metadata.selector.matchExpressions[3].values: Required value: operator In needs at least one value`,
			`metadata.selector.matchExpressions[4].operator: Required value: a requirement needs an operator: In, NotIn, Exists or DoesNotExist`,
			`metadata.selector.matchExpressions[4].values: Invalid value: "blue": expected a list of label values`,
			`metadata.selector.matchExpressions[5]: Invalid value: "team=blue": expected a requirement: an object with key, operator and values`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := field.NewPath("metadata", "selector")
			sel, err := LabelSelector(tc.in, path)
			if tc.errs != nil {
				require.Error(t, err)
				assert.Nil(t, sel)
				var got []string
				for _, e := range checkSelector(tc.in, path, nil) {
					got = append(got, e.Error())
				}
				assert.Equal(t, tc.errs, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, sel.String())
			if tc.want != "" {
				assert.False(t, sel.Matches(labels.Set{"unrelated": "x"}), "a valid selector does not match everything")
			}
		})
	}
}

// TestLiteralSelectorSkipsExpressions checks that the compile-time check of
// a literal selector leaves the values still to be computed to the check of
// the rendered selector, and checks everything else.
func TestLiteralSelectorSkipsExpressions(t *testing.T) {
	in := map[string]any{
		"matchLabels": map[string]any{"team": "${schema.spec.team}", "tier": []any{"x"}},
		"matchExpressions": []any{
			map[string]any{"key": "${schema.spec.key}", "operator": "${schema.spec.op}"},
			map[string]any{"key": "team", "operator": "In", "values": "${schema.spec.teams}"},
			"${schema.spec.requirement}",
			map[string]any{"key": "team", "operator": "Near"},
		},
	}
	var got []string
	for _, e := range checkSelector(in, field.NewPath("metadata", "selector"), isExpressionValue) {
		got = append(got, e.Error())
	}
	assert.Equal(t, []string{
		`metadata.selector.matchExpressions[3].operator: Unsupported value: "Near": supported values: "In", "NotIn", "Exists", "DoesNotExist"`,
		`metadata.selector.matchLabels[tier]: Invalid value: ["x"]: expected a label value (a string)`,
	}, got)
	assert.Empty(t, checkSelector("${schema.spec.selector}", field.NewPath("metadata", "selector"), isExpressionValue))
}
