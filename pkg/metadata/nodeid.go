package metadata

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// AnnotationNodePath on a child is the full id of the graph resource it
// renders, never shortened: LabelNodeID holds a hash of it when the id is too
// long for a label value (kro's key).
const AnnotationNodePath = "internal.kro.run/node-path"

// nodeIDHashPrefix starts a LabelNodeID value that is a hash: a letter, so
// that the value is a valid label value, and a dash, which no resource id has.
const nodeIDHashPrefix = "h-"

// nodeIDHashBytes is how much of the SHA-256 of a long id LabelNodeID keeps:
// 20 bytes, 40 hex digits.
const nodeIDHashBytes = 20

// NodeIDLabel returns the value of the LabelNodeID label of the children of
// the graph resource whose id (or path of ids, joined by "/") is path: the
// path with "/" spelled "." when that fits in a label value (63 characters),
// otherwise "h-" and the first 20 bytes of the SHA-256 of path in hex. The
// result is stable, and the one kro v0.10 computes, so that selectors match
// children across restarts and engines. Everything that writes, selects or
// matches LabelNodeID goes through this function.
func NodeIDLabel(path string) string {
	if dotted := strings.ReplaceAll(path, "/", "."); len(dotted) <= validation.LabelValueMaxLength {
		return dotted
	}
	sum := sha256.Sum256([]byte(path))
	return nodeIDHashPrefix + hex.EncodeToString(sum[:nodeIDHashBytes])
}

// NodeIDSelector returns the label selector of the children of the graph
// resource path (see NodeIDLabel).
func NodeIDSelector(path string) string {
	return LabelNodeID + "=" + NodeIDLabel(path)
}
