package crdgen

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gobuffalo/flect"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// DefaultGroup is the API group of generated kinds when the RGD names none.
const DefaultGroup = "kro.run"

// Names of the status fields that every instance has and that an RGD's status
// may not define itself.
const (
	StatusState      = "state"
	StatusConditions = "conditions"
)

const (
	maxNameListItems = 32
	maxNameListItem  = 63
)

var (
	kindPattern     = v1alpha1.KindPattern
	versionPattern  = v1alpha1.APIVersionPattern
	nameListPattern = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
)

// Input is everything Generate needs to build the CRD of an RGD's instances.
// Field paths in the errors of Generate are those of the RGD
// (spec.schema.kind, spec.schema.status.state, ...), since that is where the
// user wrote each value.
type Input struct {
	// Group is the API group; empty means DefaultGroup.
	Group string
	// Version is the only version of the kind, e.g. v1alpha1.
	Version string
	// Kind is the UpperCamelCase kind of the instances.
	Kind string
	// Scope is Namespaced (the default when empty) or Cluster.
	Scope apiextensionsv1.ResourceScope
	// Spec is the schema of the instances' .spec, as produced by SimpleSchema;
	// nil means an empty object.
	Spec *apiextensionsv1.JSONSchemaProps
	// Status is the inferred schema of the instances' .status, without the
	// reserved state and conditions fields, which Generate adds; nil means no
	// user-defined status fields.
	Status *apiextensionsv1.JSONSchemaProps
	// PrinterColumns, when non-empty, replace DefaultPrinterColumns.
	PrinterColumns []apiextensionsv1.CustomResourceColumnDefinition
	// ShortNames are the kind's short names, e.g. for kubectl.
	ShortNames []string
	// Categories are the kind's categories, e.g. "all".
	Categories []string
	// Labels are added to the CRD's labels (spec.schema.metadata.labels).
	Labels map[string]string
	// Annotations are the CRD's annotations (spec.schema.metadata.annotations).
	Annotations map[string]string
	// RGDName is the name of the owning ResourceGraphDefinition, stamped as
	// the LabelRGDName label.
	RGDName string
}

// DefaultPrinterColumns returns kro's printer columns for instances: State,
// Ready and Age, with kro's descriptions (clients such as kubectl show them
// and kro's tests compare them). It returns a new slice on every call.
func DefaultPrinterColumns() []apiextensionsv1.CustomResourceColumnDefinition {
	return []apiextensionsv1.CustomResourceColumnDefinition{
		{Name: "State", Type: "string", JSONPath: ".status.state",
			Description: "The state of a ResourceGraphDefinition instance"},
		{Name: "Ready", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].status`,
			Description: "Whether a ResourceGraphDefinition instance is ready"},
		{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
			Description: "Age of the resource"},
	}
}

// CRDName returns the name of the CRD of kind in group:
// <flect plural of lower(kind)>.<group>, the way kro names it.
func CRDName(group, kind string) string {
	if group == "" {
		group = DefaultGroup
	}
	return Plural(kind) + "." + group
}

// Plural returns the plural resource name of kind, as kro computes it.
func Plural(kind string) string {
	return flect.Pluralize(strings.ToLower(kind))
}

// Generate builds the CRD for the instances of an RGD. The output is
// deterministic and in.Spec / in.Status are not modified. Every problem with
// the input is reported at once, as a field.ErrorList aggregate; the generated
// CRD is also checked with the API server's own CRD validation.
func Generate(in Input) (*apiextensionsv1.CustomResourceDefinition, error) {
	crd, err := Build(in)
	if err != nil {
		return nil, err
	}
	if errs := validateCRD(crd); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return crd, nil
}

// Build is Generate without the API server's validation of the generated
// CRD (the input is still checked): for a caller that has had an identical
// Input accepted by Generate before, such as a compiler that recompiles an
// unchanged RGD. The output is exactly Generate's.
func Build(in Input) (*apiextensionsv1.CustomResourceDefinition, error) {
	if in.Group == "" {
		in.Group = DefaultGroup
	}
	if in.Scope == "" {
		in.Scope = apiextensionsv1.NamespaceScoped
	}
	if errs := validateInput(&in); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}

	plural := Plural(in.Kind)
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{
			APIVersion: apiextensionsv1.SchemeGroupVersion.String(),
			Kind:       "CustomResourceDefinition",
		},
		ObjectMeta: metav1.ObjectMeta{
			Name:        plural + "." + in.Group,
			Labels:      crdLabels(in.Labels, in.RGDName),
			Annotations: copyAnnotations(in.Annotations),
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: in.Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural:     plural,
				Singular:   strings.ToLower(in.Kind),
				Kind:       in.Kind,
				ListKind:   in.Kind + "List",
				ShortNames: slices.Clone(in.ShortNames),
				Categories: slices.Clone(in.Categories),
			},
			Scope:    in.Scope,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{crdVersion(&in)},
		},
	}
	return crd, nil
}

// crdVersion returns the CRD's only version: served, stored, with the
// instance schema, the status subresource and the printer columns.
func crdVersion(in *Input) apiextensionsv1.CustomResourceDefinitionVersion {
	return apiextensionsv1.CustomResourceDefinitionVersion{
		Name:    in.Version,
		Served:  true,
		Storage: true,
		Schema: &apiextensionsv1.CustomResourceValidation{
			OpenAPIV3Schema: instanceSchema(in.Spec, in.Status),
		},
		Subresources: &apiextensionsv1.CustomResourceSubresources{
			Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
		},
		AdditionalPrinterColumns: printerColumns(in.PrinterColumns),
	}
}

// instanceSchema returns the openAPIV3Schema of an instance: the standard
// top-level fields plus copies of the spec and status schemas (see
// objectSchema and statusSchema).
func instanceSchema(spec, status *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	return &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string"},
			"metadata":   {Type: "object"},
			"spec":       *objectSchema(spec),
			"status":     *statusSchema(status),
		},
	}
}

// printerColumns returns a deep copy of columns, or DefaultPrinterColumns
// when there are none.
func printerColumns(columns []apiextensionsv1.CustomResourceColumnDefinition) []apiextensionsv1.CustomResourceColumnDefinition {
	if len(columns) == 0 {
		return DefaultPrinterColumns()
	}
	out := make([]apiextensionsv1.CustomResourceColumnDefinition, len(columns))
	for i := range columns {
		columns[i].DeepCopyInto(&out[i])
	}
	return out
}

// crdLabels returns a copy of the user's labels plus the ownership labels.
func crdLabels(user map[string]string, rgdName string) map[string]string {
	labels := map[string]string{}
	for k, v := range user {
		labels[k] = v
	}
	labels[LabelOwned] = LabelOwnedValue
	labels[LabelRGDName] = rgdName
	return labels
}

// copyAnnotations returns a copy of annotations, or nil when there are none.
func copyAnnotations(annotations map[string]string) map[string]string {
	if len(annotations) == 0 {
		return nil
	}
	out := make(map[string]string, len(annotations))
	for k, v := range annotations {
		out[k] = v
	}
	return out
}

// objectSchema returns a deep copy of s, or an empty object schema if s is nil.
func objectSchema(s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	if s == nil {
		return &apiextensionsv1.JSONSchemaProps{Type: "object"}
	}
	return s.DeepCopy()
}

// statusSchema returns the user's status schema plus the reserved fields.
func statusSchema(s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	out := objectSchema(s)
	if out.Properties == nil {
		out.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
	}
	out.Properties[StatusState] = apiextensionsv1.JSONSchemaProps{Type: "string"}
	out.Properties[StatusConditions] = conditionsSchema()
	return out
}

// conditionsSchema is the schema of status.conditions.
func conditionsSchema() apiextensionsv1.JSONSchemaProps {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	return apiextensionsv1.JSONSchemaProps{
		Type: "array",
		Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
			Type: "object",
			Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"type":               str,
				"status":             str,
				"reason":             str,
				"message":            str,
				"lastTransitionTime": {Type: "string", Format: "date-time"},
				"observedGeneration": {Type: "integer", Format: "int64"},
			},
		}},
	}
}

// validateInput checks the input against the rules of the RGD API, naming
// the RGD fields at fault.
func validateInput(in *Input) field.ErrorList {
	var errs field.ErrorList
	schemaPath := field.NewPath("spec", "schema")

	switch {
	case in.Kind == "":
		errs = append(errs, field.Required(schemaPath.Child("kind"), "the kind of the instances is required"))
	case !kindPattern.MatchString(in.Kind):
		errs = append(errs, field.Invalid(schemaPath.Child("kind"), in.Kind,
			"must be UpperCamelCase: a capital letter then up to 62 letters or digits ("+kindPattern.String()+")"))
	}

	switch {
	case in.Version == "":
		errs = append(errs, field.Required(schemaPath.Child("apiVersion"), "the version of the instances is required"))
	case !versionPattern.MatchString(in.Version):
		errs = append(errs, field.Invalid(schemaPath.Child("apiVersion"), in.Version,
			"must be a Kubernetes version such as v1, v1alpha1 or v2beta3 ("+versionPattern.String()+")"))
	}

	groupPath := schemaPath.Child("group")
	for _, msg := range validation.IsDNS1123Subdomain(in.Group) {
		errs = append(errs, field.Invalid(groupPath, in.Group, msg))
	}
	if !strings.Contains(in.Group, ".") {
		errs = append(errs, field.Invalid(groupPath, in.Group, "must be a domain with at least one dot, e.g. kro.run"))
	}

	if in.Scope != apiextensionsv1.NamespaceScoped && in.Scope != apiextensionsv1.ClusterScoped {
		errs = append(errs, field.NotSupported(schemaPath.Child("scope"), in.Scope,
			[]string{string(apiextensionsv1.NamespaceScoped), string(apiextensionsv1.ClusterScoped)}))
	}

	if in.Spec != nil && in.Spec.Type != "object" {
		errs = append(errs, field.Invalid(schemaPath.Child("spec"), in.Spec.Type, `the schema of spec must have type "object"`))
	}
	statusPath := schemaPath.Child("status")
	if in.Status != nil {
		if in.Status.Type != "object" {
			errs = append(errs, field.Invalid(statusPath, in.Status.Type, `the schema of status must have type "object"`))
		}
		for _, name := range []string{StatusState, StatusConditions} {
			if _, ok := in.Status.Properties[name]; ok {
				errs = append(errs, field.Forbidden(statusPath.Child(name),
					"status."+name+" is reserved: every instance gets it from the engine"))
			}
		}
	}

	errs = append(errs, validateNameList(schemaPath.Child("shortNames"), in.ShortNames)...)
	errs = append(errs, validateNameList(schemaPath.Child("categories"), in.Categories)...)

	metaPath := schemaPath.Child("metadata")
	errs = append(errs, metav1validation.ValidateLabels(in.Labels, metaPath.Child("labels"))...)
	for _, key := range reservedLabels {
		if _, ok := in.Labels[key]; ok {
			errs = append(errs, field.Forbidden(metaPath.Child("labels").Key(key),
				"this label is set by the engine to mark CRD ownership"))
		}
	}
	errs = append(errs, apivalidation.ValidateAnnotations(in.Annotations, metaPath.Child("annotations"))...)

	if in.RGDName == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"),
			"the name of the ResourceGraphDefinition is needed for the CRD's ownership label"))
	} else {
		for _, msg := range validation.IsValidLabelValue(in.RGDName) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), in.RGDName,
				"must be usable as a label value: "+msg))
		}
	}
	return errs
}

// validateNameList checks shortNames or categories: at most 32 unique
// lower-case DNS labels of at most 63 characters.
func validateNameList(path *field.Path, names []string) field.ErrorList {
	var errs field.ErrorList
	if len(names) > maxNameListItems {
		errs = append(errs, field.TooMany(path, len(names), maxNameListItems))
	}
	seen := map[string]bool{}
	for i, n := range names {
		p := path.Index(i)
		if len(n) > maxNameListItem {
			errs = append(errs, field.TooLong(p, n, maxNameListItem))
		}
		if !nameListPattern.MatchString(n) {
			errs = append(errs, field.Invalid(p, n, "must be lower case letters, digits and '-', starting with a letter ("+nameListPattern.String()+")"))
		}
		if seen[n] {
			errs = append(errs, field.Duplicate(p, n))
		}
		seen[n] = true
	}
	return errs
}

// validateCRD runs the API server's validation of a new CRD on a defaulted
// copy of crd, so that a CRD the API server would reject is caught offline.
// Its field paths are those of the CRD.
func validateCRD(crd *apiextensionsv1.CustomResourceDefinition) field.ErrorList {
	defaulted := crd.DeepCopy()
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(defaulted)
	var internal apiextensions.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(defaulted, &internal, nil); err != nil {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("converting the generated CRD: %w", err))}
	}
	errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), &internal)
	for _, e := range errs {
		e.Field = rgdFieldPath(e.Field)
		e.Detail = "generated CRD " + crd.Name + " is invalid: " + strings.TrimSpace(e.Detail)
	}
	return errs
}

// crdToRGDPaths maps field path prefixes of the (internal, single-version)
// CRD to the RGD fields they come from.
var crdToRGDPaths = []struct{ crd, rgd string }{
	{"spec.validation.openAPIV3Schema.properties[spec]", "spec.schema.spec"},
	{"spec.validation.openAPIV3Schema.properties[status]", "spec.schema.status"},
	{"spec.validation.openAPIV3Schema", "spec.versions[0].schema.openAPIV3Schema"},
	{"spec.additionalPrinterColumns", "spec.schema.additionalPrinterColumns"},
	{"spec.names.shortNames", "spec.schema.shortNames"},
	{"spec.names.categories", "spec.schema.categories"},
}

// rgdFieldPath rewrites a field path of the generated CRD, as reported by
// the API server's validation, into the RGD field the user wrote, e.g.
// spec.validation.openAPIV3Schema.properties[spec].properties[replicas].default
// becomes spec.schema.spec.replicas.default. Paths with no RGD counterpart
// are returned unchanged.
func rgdFieldPath(p string) string {
	for _, m := range crdToRGDPaths {
		rest, ok := strings.CutPrefix(p, m.crd)
		if !ok {
			continue
		}
		if strings.HasPrefix(m.rgd, "spec.schema.spec") || strings.HasPrefix(m.rgd, "spec.schema.status") {
			rest = schemaPathRewriter.Replace(rest)
			rest = propertyPattern.ReplaceAllString(rest, ".$1")
		}
		return m.rgd + rest
	}
	return p
}

var (
	propertyPattern    = regexp.MustCompile(`\.properties\[([^\]]*)\]`)
	schemaPathRewriter = strings.NewReplacer(".items", "[*]", ".additionalProperties", "[*]")
)
