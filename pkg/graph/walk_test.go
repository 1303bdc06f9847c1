package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// TestWalkSitesKeepTheirOwnSchema walks sibling and nested expression values
// whose schemas differ: each site must keep the schema of its own field,
// although the walker reuses one buffer per depth while it descends, and the
// resolver's schema must be left as it was.
func TestWalkSitesKeepTheirOwnSchema(t *testing.T) {
	container := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"name":  *spec.StringProperty(),
		"count": *spec.Int64Property(),
		"ready": *spec.BoolProperty(),
	}}}
	root := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"a":     container,
		"b":     container,
		"flag":  *spec.BoolProperty(),
		"items": *spec.ArrayProperty(&container),
	}}}
	before, err := root.MarshalJSON()
	require.NoError(t, err)

	e := &errs{rgd: "demo"}
	w := &walker{errs: e, resourceID: "r", fieldPrefix: "spec.resources[0].template"}
	w.walk(map[string]any{
		"a":     map[string]any{"name": "${x.name}", "count": "${x.count}", "ready": "static"},
		"b":     map[string]any{"ready": "${x.ready}", "count": int64(3)},
		"flag":  "${x.flag}",
		"items": []any{map[string]any{"name": "${x.item}"}},
	}, nil, root)

	got := map[string]string{}
	for _, s := range w.sites {
		require.NotNil(t, s.schema, s.path.String())
		got[s.path.String()] = s.schema.Type[0]
	}
	assert.Equal(t, map[string]string{
		"a.count":       "integer",
		"a.name":        "string",
		"b.ready":       "boolean",
		"flag":          "boolean",
		"items[0].name": "string",
	}, got)
	require.Len(t, e.list, 1, "a.ready is a string where a boolean is expected")
	assert.Equal(t, "spec.resources[0].template.a.ready", e.list[0].Field)

	after, err := root.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after), "the walk must not change the schema")
}
