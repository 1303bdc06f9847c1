package simpleschema

import (
	"encoding/json"
	"errors"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzParseField checks that ParseField never panics and only returns known markers
// and *ParseError problems.
func FuzzParseField(f *testing.F) {
	for _, s := range []string{
		"string", "integer | required=true default=5", `string | description="a \"b\" c"`,
		`[]integer | default=[80, 443]`, `object | default={"a":{"b":"}"}}`, "string | =x", "string | required",
		`string | pattern="(a|b)"`, `string | description="open`, `object | default={`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseField(s)
		for _, m := range got.Markers {
			if _, ok := knownMarkers[m.Key]; !ok {
				t.Fatalf("unknown marker %q returned", m.Key)
			}
		}
		if err != nil {
			for _, e := range unjoin(err) {
				var pe *ParseError
				if !errors.As(e, &pe) {
					t.Fatalf("error %v is not a *ParseError", e)
				}
			}
		}
	})
}

// FuzzToOpenAPI checks that ToOpenAPI never panics on YAML input, that it returns
// either a schema or errors, and that its output is deterministic.
func FuzzToOpenAPI(f *testing.F) {
	f.Add([]byte("spec:\n  name: string | required=true\n  port: integer | default=80\n"))
	f.Add([]byte("spec:\n  p: Person\ntypes:\n  Person:\n    name: string | default=x\n"))
	f.Add([]byte("spec:\n  a: A\ntypes:\n  A: \"[]B\"\n  B: {a: A}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc schemaDoc
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return
		}
		s, errs := ToOpenAPI(doc.Spec, doc.Types, Options{})
		if (s == nil) == (len(errs) == 0) {
			t.Fatalf("want exactly one of schema and errors, got %v and %v", s, errs)
		}
		s2, errs2 := ToOpenAPI(doc.Spec, doc.Types, Options{})
		if errs.ToAggregate() != nil && errs.ToAggregate().Error() != errs2.ToAggregate().Error() {
			t.Fatalf("errors differ between runs:\n%v\n%v", errs, errs2)
		}
		if s == nil {
			return
		}
		a, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("schema does not marshal: %v", err)
		}
		b, _ := json.Marshal(s2)
		if string(a) != string(b) {
			t.Fatalf("output differs between runs:\n%s\n%s", a, b)
		}
	})
}
