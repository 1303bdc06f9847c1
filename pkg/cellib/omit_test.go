package cellib

import (
	"reflect"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestOmitValue(t *testing.T) {
	env := newTestEnv(t)
	out, _, err := eval(t, env, `omit()`, nil)
	require.NoError(t, err)
	assert.True(t, IsOmit(out), "CEL value")
	assert.Equal(t, OmitType, out.Type())

	native, err := out.ConvertToNative(reflect.TypeFor[any]())
	require.NoError(t, err)
	assert.True(t, IsOmit(native), "Go value after conversion to any")
	assert.True(t, IsOmit(out.Value()))
	assert.True(t, IsOmit(&Omitted{}))
	assert.False(t, IsOmit((*Omitted)(nil)))

	_, err = out.ConvertToNative(reflect.TypeFor[string]())
	assert.EqualError(t, err, "omit() cannot be converted to string")
	_, err = out.ConvertToNative(reflect.TypeFor[*structpb.Value]())
	assert.Error(t, err)
	assert.Equal(t, OmitType, out.ConvertToType(types.TypeType))
	assert.True(t, types.IsError(out.ConvertToType(types.StringType)))
}

func TestOmitInsideContainers(t *testing.T) {
	env := newTestEnv(t)
	out, _, err := eval(t, env, `{'keep': 1, 'drop': omit(), 'list': [1, omit()]}`, nil)
	require.NoError(t, err)
	native, err := out.ConvertToNative(reflect.TypeFor[map[string]any]())
	require.NoError(t, err)
	m := native.(map[string]any)
	assert.True(t, IsOmit(m["drop"]))
	assert.False(t, IsOmit(m["keep"]))
	list := m["list"].([]any)
	assert.False(t, IsOmit(list[0]))
	assert.True(t, IsOmit(list[1]))
}

func TestOmitInExpressions(t *testing.T) {
	env := newTestEnv(t)
	ast, cerr := compile(t, env, `s != '' ? s : omit()`)
	require.Empty(t, cerr)
	assert.Equal(t, "dyn", ast.OutputType().String())

	out, _, err := eval(t, env, `s != '' ? s : omit()`, map[string]any{"s": ""})
	require.NoError(t, err)
	assert.True(t, IsOmit(out))
	out, _, err = eval(t, env, `s != '' ? s : omit()`, map[string]any{"s": "x"})
	require.NoError(t, err)
	assert.False(t, IsOmit(out))
	assert.Equal(t, types.String("x"), out)

	assert.Contains(t, evalErr(t, env, `omit() == omit()`, nil), "omit() cannot be compared")
	_, cerr = compile(t, env, `omit(1)`)
	assert.Contains(t, cerr, "found no matching overload for 'omit'")
}

func TestIsOmitOtherValues(t *testing.T) {
	for _, v := range []any{nil, "", 0, types.NullValue, types.String("omit"), struct{}{}, map[string]any{}} {
		assert.False(t, IsOmit(v), "%#v", v)
	}
}

func TestOmitDisabled(t *testing.T) {
	env := newTestEnv(t, EnableOmit(false))
	_, err := compile(t, env, `omit()`)
	assert.Contains(t, err, "undeclared reference to 'omit'")
	// The other libraries are still there.
	_, err = compile(t, env, `hash.md5('a')`)
	assert.Empty(t, err)
}
