package instance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
)

// hashObject fingerprints a desired object (encoding/json sorts map keys).
func hashObject(obj map[string]any) string {
	b, _ := json.Marshal(obj)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// covers reports whether live already holds every field of desired with the
// same value: what a server-side apply of desired would leave unchanged.
// Fields live has beyond desired (defaults, other managers' fields, status)
// do not matter. Lists must match item by item, as apply replaces atomic
// lists and merges keyed ones in place.
func covers(live, desired any) bool {
	switch d := desired.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		for k, dv := range d {
			lv, present := l[k]
			if !present {
				if dv == nil {
					continue
				}
				if m, isMap := dv.(map[string]any); isMap && len(m) == 0 {
					continue
				}
				return false
			}
			if !covers(lv, dv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		if len(l) != len(d) {
			return false
		}
		for i := range d {
			if !covers(l[i], d[i]) {
				return false
			}
		}
		return true
	case string:
		switch l := live.(type) {
		case string:
			return l == d || sameQuantity(l, d)
		default:
			return false
		}
	case nil:
		return live == nil
	default:
		if df, ok := number(desired); ok {
			lf, ok := number(live)
			return ok && lf == df
		}
		return live == desired
	}
}

// sameQuantity accepts the API server's canonical form of a quantity, such as
// "0.5" stored as "500m".
func sameQuantity(a, b string) bool {
	qa, err := resource.ParseQuantity(a)
	if err != nil {
		return false
	}
	qb, err := resource.ParseQuantity(b)
	if err != nil {
		return false
	}
	return qa.Cmp(qb) == 0
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	case float32:
		return float64(n), true
	}
	return 0, false
}
