package schemas

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// ErrNotFound is wrapped by the errors of a Resolver that does not know the
// kind asked for (test with errors.Is).
var ErrNotFound = errors.New("kind not found")

// Resolved is what rgd needs to know about one kind.
type Resolved struct {
	// GVK is the kind that was resolved.
	GVK schema.GroupVersionKind
	// Resource is the REST resource that serves the kind.
	Resource schema.GroupVersionResource
	// Namespaced is true for namespace-scoped kinds.
	Namespaced bool
	// Schema is the kind's OpenAPI schema with every $ref inlined; nil means
	// schemaless (any field is preserved). Resolvers share schemas between
	// callers: treat it as read-only.
	Schema *spec.Schema
}

// Resolver answers schemas and REST mapping for kinds. Resolve returns an
// error wrapping ErrNotFound when the source does not know the kind.
type Resolver interface {
	Resolve(ctx context.Context, gvk schema.GroupVersionKind) (*Resolved, error)
}

// ResolverFunc adapts a function to the Resolver interface.
type ResolverFunc func(ctx context.Context, gvk schema.GroupVersionKind) (*Resolved, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, gvk schema.GroupVersionKind) (*Resolved, error) {
	return f(ctx, gvk)
}

// Chain asks each resolver in turn: the first that knows the kind wins. An
// error other than ErrNotFound stops the chain and is returned. When no
// resolver knows the kind, the error wraps ErrNotFound. Nil resolvers are
// skipped.
func Chain(rs ...Resolver) Resolver {
	list := make([]Resolver, 0, len(rs))
	for _, r := range rs {
		if r != nil {
			list = append(list, r)
		}
	}
	return chain(list)
}

type chain []Resolver

func (c chain) Resolve(ctx context.Context, gvk schema.GroupVersionKind) (*Resolved, error) {
	for _, r := range c {
		res, err := r.Resolve(ctx, gvk)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, notFound(gvk)
}

func notFound(gvk schema.GroupVersionKind) error {
	return &notFoundError{gvk: gvk}
}

type notFoundError struct {
	gvk    schema.GroupVersionKind
	detail string
}

func (e *notFoundError) Error() string {
	msg := "kind " + e.gvk.Kind + " of apiVersion " + e.gvk.GroupVersion().String() + " not found"
	if e.detail != "" {
		msg += ": " + e.detail
	}
	return msg
}

func (e *notFoundError) Unwrap() error { return ErrNotFound }
