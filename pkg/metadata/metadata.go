package metadata

import (
	"slices"
	"strings"
)

// Labels on every child object rgd creates.
const (
	// LabelOwned marks an object as managed by rgd (kro's key).
	LabelOwned = "kro.run/owned"
	// LabelKroVersion is the version of the engine that wrote the object.
	LabelKroVersion = "kro.run/kro-version"
	// LabelInstanceID is the UID of the instance that owns the object.
	LabelInstanceID = "kro.run/instance-id"
	// LabelInstanceName is the name of the owning instance.
	LabelInstanceName = "kro.run/instance-name"
	// LabelInstanceNamespace is the namespace of the owning instance (absent
	// for cluster-scoped instances).
	LabelInstanceNamespace = "kro.run/instance-namespace"
	// LabelInstanceGroup is the API group of the owning instance's kind.
	LabelInstanceGroup = "kro.run/instance-group"
	// LabelInstanceVersion is the API version of the owning instance's kind.
	LabelInstanceVersion = "kro.run/instance-version"
	// LabelInstanceKind is the kind of the owning instance.
	LabelInstanceKind = "kro.run/instance-kind"
	// LabelNodeID is the id of the graph resource the object renders.
	LabelNodeID = "kro.run/node-id"
	// LabelCollectionIndex is the position of an object in its forEach collection.
	LabelCollectionIndex = "kro.run/collection-index"
	// LabelCollectionSize is the size of the collection when it was rendered.
	LabelCollectionSize = "kro.run/collection-size"
	// LabelManagedBy is the recommended app.kubernetes.io label.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value.
	ManagedByValue = "rgd"
	// LabelApplySetPartOf names the ApplySet (the instance) the object is part of.
	LabelApplySetPartOf = "applyset.kubernetes.io/part-of"
)

// Labels on instances and generated CRDs.
const (
	// LabelRGDName names the ResourceGraphDefinition of an instance or CRD.
	LabelRGDName = "kro.run/resource-graph-definition-name"
	// LabelRGDID is the UID of that ResourceGraphDefinition.
	LabelRGDID = "kro.run/resource-graph-definition-id"
	// LabelApplySetID identifies the instance as an ApplySet parent.
	LabelApplySetID = "applyset.kubernetes.io/id"
)

// Annotations.
const (
	// AnnotationApplyOrder is a child's deletion wave: 1-based, the highest
	// is deleted first (kro's key).
	AnnotationApplyOrder = "internal.kro.run/apply-order"
	// AnnotationInventory on an instance records every child rgd ever
	// created for it and has not yet seen deleted, so that pruning and
	// deletion never lose one, even across crashes.
	AnnotationInventory = "rgd.dev/inventory"
	// AnnotationReconcile set to "suspended" (or kro's legacy "disabled")
	// stops changes to an instance's children.
	AnnotationReconcile = "kro.run/reconcile"
	// AnnotationAllowBreakingChanges on an RGD lets a breaking change of the
	// generated CRD's schema through.
	AnnotationAllowBreakingChanges = "kro.run/allow-breaking-changes"
	// AnnotationAdopt on an RGD set to "true" lets rgd take over existing
	// objects that match a template instead of refusing them.
	AnnotationAdopt = "rgd.dev/adopt-existing"
	// AnnotationServiceAccount on an RGD names the ServiceAccount whose
	// identity every write of its instances' children uses (impersonation):
	// NAME, the ServiceAccount NAME in each instance's own namespace, or
	// NAMESPACE/NAME, a fixed one.
	AnnotationServiceAccount = "rgd.dev/service-account"
	// AnnotationDesiredHash on a child fingerprints the state rgd last
	// applied, so that a field dropped from a template (or by omit()) is
	// noticed and removed, and an unchanged child costs no write.
	AnnotationDesiredHash = "rgd.dev/desired-hash"
	// AnnotationApplySetTooling names the tool managing the ApplySet.
	AnnotationApplySetTooling = "applyset.kubernetes.io/tooling"
	// AnnotationDeletionPolicy on a child says that rgd leaves it in place
	// when it no longer wants it (value Orphaned; kro's key).
	AnnotationDeletionPolicy = "internal.kro.run/deletion-policy"
	// AnnotationDeletionPolicyDetach is the key of kro's earlier spelling of
	// the same (value Detach).
	AnnotationDeletionPolicyDetach = "kro.run/deletion-policy"
)

// ChildLabels are the labels rgd stamps on the children it creates.
func ChildLabels() []string {
	return []string{
		LabelOwned, LabelKroVersion, LabelInstanceID, LabelInstanceName, LabelInstanceNamespace, LabelInstanceGroup,
		LabelInstanceVersion, LabelInstanceKind, LabelNodeID, LabelCollectionIndex, LabelCollectionSize,
		LabelManagedBy, LabelApplySetPartOf,
	}
}

// ChildAnnotations are the annotations rgd stamps on the children it creates.
func ChildAnnotations() []string {
	return []string{AnnotationApplyOrder, AnnotationDesiredHash, AnnotationDeletionPolicy, AnnotationDeletionPolicyDetach}
}

// IsChildKey reports whether a label or annotation key of a child is rgd's
// to remove when it releases the child: one of ChildLabels or
// ChildAnnotations, or any key under kro.run/ or internal.kro.run/, the
// prefixes templates may not use.
func IsChildKey(key string) bool {
	if strings.HasPrefix(key, "kro.run/") || strings.HasPrefix(key, "internal.kro.run/") {
		return true
	}
	return slices.Contains(ChildLabels(), key) || slices.Contains(ChildAnnotations(), key)
}

// Finalizer is put on RGDs and instances so that their deletion waits for
// rgd's clean-up (kro's name).
const Finalizer = "kro.run/finalizer"

// Field managers.
const (
	// FieldManagerChildren applies children (kro's name).
	FieldManagerChildren = "kro.run/applyset"
	// FieldManagerInstance writes the instance's labels, finalizer and
	// inventory (kro's name).
	FieldManagerInstance = "kro.run/applyset-parent"
	// FieldManagerController writes RGD and instance status and CRDs.
	FieldManagerController = "rgd"
)

// IsSuspended reports whether an instance's reconcile annotation suspends it.
func IsSuspended(annotations map[string]string) bool {
	switch v := annotations[AnnotationReconcile]; {
	case strings.EqualFold(v, "suspended"), strings.EqualFold(v, "disabled"):
		return true
	}
	return false
}
