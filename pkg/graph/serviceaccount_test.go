package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseServiceAccount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ServiceAccount
		err  string
	}{
		{in: "writer", want: ServiceAccount{Name: "writer"}},
		{in: "team-a/writer", want: ServiceAccount{Namespace: "team-a", Name: "writer"}},
		{in: "team-a/ci.writer", want: ServiceAccount{Namespace: "team-a", Name: "ci.writer"}},
		{in: "", err: "empty"},
		{in: "a/b/c", err: "more than one '/'"},
		{in: "/writer", err: "empty namespace"},
		{in: "team-a/", err: "the name is empty"},
		{in: "team.a/writer", err: `namespace "team.a"`},
		{in: "Writer", err: `name "Writer"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseServiceAccount(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, got.String(), "the annotation's form round-trips")
		})
	}
}

func TestServiceAccountDescribe(t *testing.T) {
	assert.Equal(t, "serviceaccount writer in each instance's namespace", ServiceAccount{Name: "writer"}.Describe())
	assert.Equal(t, "serviceaccount team-a/writer", ServiceAccount{Namespace: "team-a", Name: "writer"}.Describe())
}
