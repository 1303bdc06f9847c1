package watch

import (
	"sync"
	"unique"
)

// Objects held by informers repeat the same strings over and over: field
// names, label keys, and label values (an instance's id and name, the RGD's
// name, "true") on every child. The JSON decoder gives each occurrence its
// own copy. internObject replaces field names and label keys by one copy
// from a table, and label values by their canonical copy from the unique
// package (freed once nothing uses it). Other values, mostly different on
// every object, are left alone: looking them up would cost more than it
// saves. The content of the objects does not change.

// maxKeys bounds the table of field names: beyond it (objects with
// generated keys, for example) keys are no longer shared.
const maxKeys = 1 << 14

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

// internObject interns the field names of obj and the keys and values of its
// metadata.labels.
func internObject(obj map[string]any) {
	internKeys(obj)
	md, _ := obj["metadata"].(map[string]any)
	labels, _ := md["labels"].(map[string]any)
	for k, v := range labels {
		if s, ok := v.(string); ok {
			labels[k] = unique.Make(s).Value()
		}
	}
}

// internKeys interns the keys of m and of every map below it.
func internKeys(m map[string]any) {
	for k, v := range m {
		// Assigning to an existing string key replaces the stored key with
		// the interned one; the map does not grow.
		m[internKey(k)] = v
		internKeysIn(v)
	}
}

func internKeysIn(v any) {
	switch x := v.(type) {
	case map[string]any:
		internKeys(x)
	case []any:
		for _, item := range x {
			internKeysIn(item)
		}
	}
}
