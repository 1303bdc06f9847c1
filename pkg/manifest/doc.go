// Package manifest reads Kubernetes manifests (YAML or JSON, one or many
// documents per file) and decodes ResourceGraphDefinitions strictly, so that
// every command and test of rgd reads files the same way.
package manifest
