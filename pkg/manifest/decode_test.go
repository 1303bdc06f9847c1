package manifest

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestDecodeErrors reads every RGD under testdata/decode, which must not
// decode, and compares the complete error with the golden .err file beside it.
func TestDecodeErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "decode", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			docs, err := ReadFile(f)
			require.NoError(t, err)
			require.Len(t, docs, 1)
			_, err = docs[0].RGD()
			require.Error(t, err, "the RGD must not decode")
			var de *DecodeError
			require.True(t, errors.As(err, &de), "the error must be a *DecodeError, got %T", err)
			for _, fe := range de.Fields {
				require.NotEmpty(t, fe.Field, "every problem names a field: %s", fe)
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644))
			}
			want, err2 := os.ReadFile(golden)
			require.NoError(t, err2, "run go test ./pkg/manifest -run %s -update", t.Name())
			require.Equal(t, string(want), err.Error()+"\n")
		})
	}
}
