package graph

import (
	"regexp"
	"strings"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

var (
	// resourceIDPattern is lowerCamelCase, as kro requires of resource ids.
	resourceIDPattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	kindPattern       = v1alpha1.KindPattern
	apiVersionPattern = v1alpha1.APIVersionPattern
	// iteratorPattern is a CEL identifier.
	iteratorPattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// reservedWords cannot be resource ids or iterator names: they are CEL
// keywords or names rgd (like kro) gives a meaning of its own.
var reservedWords = toSet(
	// kro's reserved names.
	"apiVersion", "context", "dependency", "dependencies", "each", "externalRef", "externalReference",
	"externalRefs", "externalReferences", "graph", "graphengine", "instance", "item", "items", "kind", "kro",
	"metadata", "namespace", "object", "resource", "resourcegraphdefinition", "resourceGraphDefinition",
	"resources", "root", "runtime", "schema", "self", "serviceAccountName", "spec", "status", "this",
	"variables", "vars", "version",
	// CEL's reserved words.
	"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
	"import", "let", "loop", "package", "return", "var", "void", "while",
)

func toSet(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// maxForEachDimensions caps the dimensions of one forEach, as kro does.
const maxForEachDimensions = 10

// reservedLabelPrefixes may not be set by templates: rgd owns them.
var reservedLabelPrefixes = []string{"kro.run/", "internal.kro.run/"}

func hasReservedPrefix(key string) bool {
	for _, p := range reservedLabelPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}
