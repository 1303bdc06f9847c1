package watch

import (
	"sync"
	"unique"
)

// Objects held by informers repeat the same strings over and over: field
// names, label keys, and label values (an instance's id and name, the RGD's
// name, "true") on every child. The JSON decoder gives each occurrence its
// own copy, in maps grown as the decoder went. internObject rebuilds the
// maps at their exact size, with field names and label keys from a table,
// and label values as their canonical copy from the unique package (freed
// once nothing uses it). Other values, mostly different on every object,
// are left alone: looking them up would cost more than it saves. The
// content of the objects does not change. Measured on decoded objects: a
// Deployment child goes from 10.5 to 9.1 KB, a ConfigMap child from 3.4 to
// 2.7 KB, for about 8 us more per Deployment event (decoding it takes 24).

// maxKeys bounds the table of field names: beyond it (objects with
// generated keys, for example) keys are no longer shared.
const maxKeys = 1 << 14

// keys is the table of field names. It is the one piece of state that
// engines in one process share, on purpose: it holds immutable strings by
// their content, so no engine can observe another through it, and one
// table saves more than one per engine would.
var keys = struct {
	sync.RWMutex
	m map[string]string
}{m: map[string]string{}}

// internKey returns the table's copy of k, adding k while there is room.
func internKey(k string) string {
	keys.RLock()
	c, ok := keys.m[k]
	keys.RUnlock()
	if ok {
		return c
	}
	keys.Lock()
	defer keys.Unlock()
	if c, ok := keys.m[k]; ok {
		return c
	}
	if len(keys.m) < maxKeys {
		keys.m[k] = k
	}
	return k
}

// internObject returns obj with its field names and the keys and values of
// its metadata.labels interned. Its maps are copied at their exact size
// (the decoder's grew as it went, and hold spare room); lists are
// interned in place.
func internObject(obj map[string]any) map[string]any {
	out := internMap(obj)
	md, _ := out["metadata"].(map[string]any)
	labels, _ := md["labels"].(map[string]any)
	for k, v := range labels {
		if s, ok := v.(string); ok {
			labels[k] = unique.Make(s).Value()
		}
	}
	return out
}

// internMap copies m with interned keys, and every map below it.
func internMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[internKey(k)] = internIn(v)
	}
	return out
}

func internIn(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return internMap(x)
	case []any:
		for i, item := range x {
			x[i] = internIn(item)
		}
	}
	return v
}
