package watch

import (
	"unique"

	"github.com/fxamacker/cbor/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/serializer/cbor/direct"
	"k8s.io/client-go/tools/cache"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// Why objects are stored packed: an object decoded from JSON into nested
// Go maps takes three to five times the memory of its encoding (each map,
// each boxed string and each string's bytes is an allocation of its own).
// At 10,000 instances the five objects of each (the instance and four
// children) dominated the engine's heap. The informers therefore store
// each object as a packed: the few metadata fields the store and its
// indexes read on every event, and the whole (trimmed) object encoded as
// CBOR, with apimachinery's own CBOR modes, which keep integers and
// floats apart exactly as the JSON decoder produced them. Readers get a
// freshly decoded copy (see unpack): decoding a child takes microseconds,
// and a reconcile reads a handful of objects.

// packed is an object as an informer stores it. The metadata the store
// reads on every event (for its key, its indexes and its resync check) is
// kept decoded; the rest is only in body. Labels are not kept decoded (a
// small map costs more than the rest of a packed child): only the
// instance id the store indexes by.
type packed struct {
	name, namespace, resourceVersion string
	// instanceID is the kro.run/instance-id label, interned (an
	// instance's children share it).
	instanceID string
	// body is the whole object, CBOR-encoded.
	body []byte
}

// pack encodes u. An object that cannot be encoded (none that the API
// server sends) is stored as it is: the readers take either form.
func pack(u *unstructured.Unstructured) any {
	body, err := direct.Marshal(u.Object)
	if err != nil {
		return u
	}
	return &packed{
		name:            u.GetName(),
		namespace:       internValue(u.GetNamespace()),
		resourceVersion: u.GetResourceVersion(),
		instanceID:      internValue(u.GetLabels()[metadata.LabelInstanceID]),
		body:            body,
	}
}

// unpack decodes the object. Every call returns a copy of its own.
func (p *packed) unpack() (*unstructured.Unstructured, bool) {
	var obj map[string]any
	if err := direct.Unmarshal(p.body, &obj); err != nil || obj == nil {
		return nil, false
	}
	return &unstructured.Unstructured{Object: obj}, true
}

// GetObjectMeta makes a packed readable by meta.Accessor, which the
// informer's store uses for keys, the namespace index and resync checks.
func (p *packed) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Name: p.name, Namespace: p.namespace, ResourceVersion: p.resourceVersion}
}

var _ metav1.ObjectMetaAccessor = (*packed)(nil)

// unpackAny returns the object an informer stored or delivered: a packed
// (decoded), an object stored as it was, or either inside a tombstone.
func unpackAny(obj any) (*unstructured.Unstructured, bool) {
	switch o := obj.(type) {
	case *packed:
		return o.unpack()
	case *unstructured.Unstructured:
		return o, true
	case cache.DeletedFinalStateUnknown:
		return unpackAny(o.Obj)
	}
	return nil, false
}

// labelsOnly is the part of an object a label selector reads.
// apimachinery's decoding mode refuses fields a struct does not name, so
// labels are decoded with a mode of the same library that skips them.
type labelsOnly struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
}

// skipUnknown decodes a struct from an object and skips what it does not
// name. (The options are constant and valid: TestLabelsOf checks them.)
// apimachinery encodes strings, map keys included, as byte strings.
var skipUnknown, _ = cbor.DecOptions{
	FieldNameByteString: cbor.FieldNameByteStringAllowed,
	ByteStringToString:  cbor.ByteStringToStringAllowed,
}.DecMode()

// labelsOf returns the labels of a stored object, decoding only them.
func labelsOf(obj any) (map[string]string, bool) {
	switch o := obj.(type) {
	case *packed:
		var l labelsOnly
		if err := skipUnknown.Unmarshal(o.body, &l); err != nil {
			return nil, false
		}
		return l.Metadata.Labels, true
	case *unstructured.Unstructured:
		return o.GetLabels(), true
	}
	return nil, false
}

// instanceIDOf returns the kro.run/instance-id label of a stored object
// without decoding it.
func instanceIDOf(obj any) (string, bool) {
	switch o := obj.(type) {
	case *packed:
		return o.instanceID, true
	case *unstructured.Unstructured:
		return o.GetLabels()[metadata.LabelInstanceID], true
	}
	return "", false
}

// internValue returns the canonical copy of s (see the unique package),
// freed once nothing uses it: the namespace, and the instance id each of
// an instance's children carries, are then held once.
func internValue(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}
