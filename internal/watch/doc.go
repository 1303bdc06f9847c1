// Package watch runs the engine's shared informers.
//
// A Manager keeps one client-go dynamic informer per Key (a resource type and
// an optional label selector), started when the first owner asks for it with
// Watch and stopped when the last owner releases it. Informers hold the
// objects without the kubectl last-applied annotation and without
// metadata.managedFields unless an owner asks for them (ManagedFields), and
// only with the fields their owners use when every owner says which
// (WatchFields), packed: encoded as CBOR, with only the metadata the store
// indexes kept decoded, and decoded again for each reader. They
// index them by namespace and by the owning instance's id
// (IndexByInstance), so that a reconcile reads an instance and its children
// from memory instead of from the API server. Owners get events through a
// Handler that should only enqueue work.
package watch
