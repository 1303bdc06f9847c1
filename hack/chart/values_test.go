package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "go.yaml.in/yaml/v3"
)

// schemaNode is the part of a JSON schema the documentation check reads.
type schemaNode struct {
	Properties map[string]schemaNode `json:"properties"`
}

// documentedValue is a value of values.yaml that the chart documents: a
// path such as controller.workers, and the comment above it.
type documentedValue struct {
	path    string
	comment string
}

// walkValues lists the values of a values.yaml mapping node, descending
// into the values whose schema has properties of its own (the others, such
// as resources or nodeSelector, are Kubernetes' types, taken whole).
func walkValues(t *testing.T, node *yamlv3.Node, schema schemaNode, prefix string) []documentedValue {
	t.Helper()
	require.Equal(t, yamlv3.MappingNode, node.Kind, "%s: a mapping", prefix)
	var out []documentedValue
	var keys []string
	for i := 0; i < len(node.Content); i += 2 {
		key, val := node.Content[i], node.Content[i+1]
		path := prefix + key.Value
		keys = append(keys, key.Value)
		sub, ok := schema.Properties[key.Value]
		if !assert.True(t, ok, "values.schema.json has no %s", path) {
			continue
		}
		out = append(out, documentedValue{path: path, comment: strings.TrimSpace(key.HeadComment)})
		if len(sub.Properties) > 0 {
			out = append(out, walkValues(t, val, sub, path+".")...)
		}
	}
	for name := range schema.Properties {
		if prefix == "" && name == "global" {
			continue // Helm's, for a parent chart
		}
		assert.Contains(t, keys, name, "values.yaml has no %s%s, which values.schema.json describes", prefix, name)
	}
	return out
}

// chartValues returns every value of values.yaml, checked against the
// schema's properties both ways.
func chartValues(t *testing.T) []documentedValue {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, chartDir, "values.yaml"))
	require.NoError(t, err)
	var doc yamlv3.Node
	require.NoError(t, yamlv3.Unmarshal(raw, &doc))
	rawSchema, err := os.ReadFile(filepath.Join(root, chartDir, "values.schema.json"))
	require.NoError(t, err)
	var schema schemaNode
	require.NoError(t, json.Unmarshal(rawSchema, &schema))
	return walkValues(t, doc.Content[0], schema, "")
}

// TestValuesDocumented checks that every value has a comment in values.yaml
// and a row in README.md's table, and that values.schema.json describes
// exactly the values of values.yaml.
func TestValuesDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, chartDir, "README.md"))
	require.NoError(t, err)
	values := chartValues(t)
	require.NotEmpty(t, values)
	for _, v := range values {
		assert.NotEmpty(t, v.comment, "values.yaml: no comment above %s", v.path)
		leaf := !slices.ContainsFunc(values, func(o documentedValue) bool { return strings.HasPrefix(o.path, v.path+".") })
		if leaf {
			assert.Contains(t, string(readme), "| `"+v.path+"` |", "README.md: no row for %s", v.path)
		}
	}
}
