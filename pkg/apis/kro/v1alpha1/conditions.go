package v1alpha1

import "regexp"

// Condition types and reasons of ResourceGraphDefinitions, as kro writes them.
const (
	// ConditionReady is the root condition: True when every other one is.
	ConditionReady ConditionType = "Ready"
	// ConditionGraphAccepted says whether the graph compiled.
	ConditionGraphAccepted ConditionType = "GraphAccepted"
	// ConditionKindReady says whether the generated CRD is established.
	ConditionKindReady ConditionType = "KindReady"
	// ConditionControllerReady says whether instances of the kind are reconciled.
	ConditionControllerReady ConditionType = "ControllerReady"

	// ReasonValid is GraphAccepted's reason when the graph compiled.
	ReasonValid = "Valid"
	// ReasonInvalidResourceGraph is GraphAccepted's reason when it did not
	// because of a fault of the RGD: it stays until the RGD changes.
	ReasonInvalidResourceGraph = "InvalidResourceGraph"
	// ReasonUnknownKind is GraphAccepted's reason when the graph names a
	// kind the cluster does not serve yet (a CRD being installed, or not
	// installed): the RGD is compiled again when CRDs change, and may turn
	// Active without changing. rgd's own reason; kro writes
	// InvalidResourceGraph.
	ReasonUnknownKind = "UnknownKind"
	// ReasonSchemaUnavailable is GraphAccepted's reason when looking up the
	// schemas the graph uses failed (the API server's fault, not the RGD's):
	// retried with backoff. rgd's own reason.
	ReasonSchemaUnavailable = "SchemaUnavailable"
	// ReasonServiceAccountRequired is GraphAccepted's reason when the RGD
	// names no ServiceAccount to write its children as (the annotation
	// rgd.dev/service-account) and the engine requires one, or when the one
	// it would use cannot act for its cluster-scoped instances: it stays
	// until the RGD changes. rgd's own reason.
	ReasonServiceAccountRequired = "ServiceAccountRequired"
	// ReasonKindReady is KindReady's reason when the CRD is established.
	ReasonKindReady = "Ready"
	// ReasonFailed is the reason of a condition whose step failed.
	ReasonFailed = "Failed"
	// ReasonRunning is ControllerReady's reason when instances are served.
	ReasonRunning = "Running"
	// ReasonFailedToStart is ControllerReady's reason when they are not.
	ReasonFailedToStart = "FailedToStart"
)

// InstanceState is the value of an instance's status.state.
type InstanceState string

// Instance states, upper case as kro writes them.
const (
	// InstanceStateActive means every resource is ready.
	InstanceStateActive InstanceState = "ACTIVE"
	// InstanceStateInProgress means resources are being created or awaited.
	InstanceStateInProgress InstanceState = "IN_PROGRESS"
	// InstanceStateDeleting means the instance and its children are being deleted.
	InstanceStateDeleting InstanceState = "DELETING"
	// InstanceStateError means reconciling failed; the conditions say why.
	InstanceStateError InstanceState = "ERROR"
)

// Condition types and reasons of instances.
const (
	// ConditionInstanceManaged says whether rgd took charge of the instance.
	ConditionInstanceManaged ConditionType = "InstanceManaged"
	// ConditionGraphResolved says whether the instance's graph was rendered.
	ConditionGraphResolved ConditionType = "GraphResolved"
	// ConditionResourcesReady says whether every resource is ready.
	ConditionResourcesReady ConditionType = "ResourcesReady"
)

// KindPattern is what spec.schema.kind must match: UpperCamelCase of at
// most 63 characters (the CRD enforces it too).
var KindPattern = regexp.MustCompile(`^[A-Z][a-zA-Z0-9]{0,62}$`)

// APIVersionPattern is what spec.schema.apiVersion must match: v1, v1alpha1,
// v2beta3 and the like.
var APIVersionPattern = regexp.MustCompile(`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`)
