package instance

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCovers(t *testing.T) {
	live := map[string]any{
		"metadata": map[string]any{"name": "x", "uid": "u", "labels": map[string]any{"a": "1", "b": "2"}},
		"spec": map[string]any{
			"replicas": int64(2),
			"ports":    []any{map[string]any{"port": int64(80), "protocol": "TCP"}},
			"cpu":      "500m",
		},
		"status": map[string]any{"ready": true},
	}
	cases := []struct {
		name    string
		desired map[string]any
		want    bool
	}{
		{"subset", map[string]any{"metadata": map[string]any{"name": "x", "labels": map[string]any{"a": "1"}}}, true},
		{"defaults on the server are fine", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}}, true},
		{"int and float agree", map[string]any{"spec": map[string]any{"replicas": float64(2)}}, true},
		{"changed value", map[string]any{"spec": map[string]any{"replicas": int64(3)}}, false},
		{"missing field", map[string]any{"spec": map[string]any{"paused": true}}, false},
		{"different list length", map[string]any{"spec": map[string]any{"ports": []any{}}}, false},
		{"canonical quantity", map[string]any{"spec": map[string]any{"cpu": "0.5"}}, true},
		{"other quantity", map[string]any{"spec": map[string]any{"cpu": "1"}}, false},
		{"changed label", map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "2"}}}, false},
		{"empty object for an absent field", map[string]any{"spec": map[string]any{"template": map[string]any{}}}, true},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, covers(live, c.desired), c.name)
	}
}

func TestHashObjectIsStable(t *testing.T) {
	a := map[string]any{"b": int64(1), "a": map[string]any{"y": "1", "x": "2"}}
	b := map[string]any{"a": map[string]any{"x": "2", "y": "1"}, "b": int64(1)}
	assert.Equal(t, hashObject(a), hashObject(b))
	assert.NotEqual(t, hashObject(a), hashObject(map[string]any{"b": int64(2)}))
}
