package celenv

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	"k8s.io/apiserver/pkg/cel/library"
)

// BaseOptions returns the library options every rgd environment has: the cel-go extensions strings, lists,
// bindings (cel.bind), encoders (base64) and two-variable comprehensions, optional types, and the Kubernetes
// libraries lists, urls, regex, quantity, ip, cidr and semver. Math, sets and protos are deliberately absent
// (kro parity). Field names that are CEL keywords (e.g. `namespace`) are usable in field selection because
// typed environments recognise them (see NewEnv), and backtick escaping (x.`in`) is enabled. Last come rgd's
// cost estimates of lists.range and size (see MaxRangeSize).
func BaseOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.EnableIdentifierEscapeSyntax(),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Lists(ext.ListsMaxRangeSize(MaxRangeSize)),
		ext.Bindings(),
		ext.Encoders(),
		ext.TwoVarComprehensions(),
		library.Lists(),
		library.URLs(),
		library.Regex(),
		library.Quantity(),
		library.IP(),
		library.CIDR(),
		library.SemverLib(),
		costOptions(),
	}
}

// NewBaseEnv returns a CEL environment with BaseOptions followed by opts (for example rgd's own function
// library or variable declarations).
func NewBaseEnv(opts ...cel.EnvOption) (*cel.Env, error) {
	all := append(BaseOptions(), opts...)
	return cel.NewEnv(all...)
}
