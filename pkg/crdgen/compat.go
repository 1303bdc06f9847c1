package crdgen

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// ChangeType names one kind of difference between two CRD schemas. The
// schema change types and their classification are kro's.
type ChangeType string

// Breaking change types: an instance valid under the old schema may be
// invalid, or be read differently, under the new one.
const (
	PropertyRemoved        ChangeType = "PROPERTY_REMOVED"
	TypeChanged            ChangeType = "TYPE_CHANGED"
	RequiredAdded          ChangeType = "REQUIRED_ADDED"
	EnumRestricted         ChangeType = "ENUM_RESTRICTED"
	PatternChanged         ChangeType = "PATTERN_CHANGED"
	PatternAdded           ChangeType = "PATTERN_ADDED"
	RequiredDefaultRemoved ChangeType = "REQUIRED_DEFAULT_REMOVED"
	MinimumAdded           ChangeType = "MINIMUM_ADDED"
	MinimumIncreased       ChangeType = "MINIMUM_INCREASED"
	MaximumAdded           ChangeType = "MAXIMUM_ADDED"
	MaximumDecreased       ChangeType = "MAXIMUM_DECREASED"
	MinLengthAdded         ChangeType = "MIN_LENGTH_ADDED"
	MinLengthIncreased     ChangeType = "MIN_LENGTH_INCREASED"
	MaxLengthAdded         ChangeType = "MAX_LENGTH_ADDED"
	MaxLengthDecreased     ChangeType = "MAX_LENGTH_DECREASED"
	MinItemsAdded          ChangeType = "MIN_ITEMS_ADDED"
	MinItemsIncreased      ChangeType = "MIN_ITEMS_INCREASED"
	MaxItemsAdded          ChangeType = "MAX_ITEMS_ADDED"
	MaxItemsDecreased      ChangeType = "MAX_ITEMS_DECREASED"
)

// Non-breaking change types: every instance valid under the old schema stays
// valid under the new one.
const (
	PropertyAdded      ChangeType = "PROPERTY_ADDED"
	DescriptionChanged ChangeType = "DESCRIPTION_CHANGED"
	DefaultChanged     ChangeType = "DEFAULT_CHANGED"
	RequiredRemoved    ChangeType = "REQUIRED_REMOVED"
	EnumExpanded       ChangeType = "ENUM_EXPANDED"
	PatternRemoved     ChangeType = "PATTERN_REMOVED"
	MinimumRemoved     ChangeType = "MINIMUM_REMOVED"
	MinimumDecreased   ChangeType = "MINIMUM_DECREASED"
	MaximumRemoved     ChangeType = "MAXIMUM_REMOVED"
	MaximumIncreased   ChangeType = "MAXIMUM_INCREASED"
	MinLengthRemoved   ChangeType = "MIN_LENGTH_REMOVED"
	MinLengthDecreased ChangeType = "MIN_LENGTH_DECREASED"
	MaxLengthRemoved   ChangeType = "MAX_LENGTH_REMOVED"
	MaxLengthIncreased ChangeType = "MAX_LENGTH_INCREASED"
	MinItemsRemoved    ChangeType = "MIN_ITEMS_REMOVED"
	MinItemsDecreased  ChangeType = "MIN_ITEMS_DECREASED"
	MaxItemsRemoved    ChangeType = "MAX_ITEMS_REMOVED"
	MaxItemsIncreased  ChangeType = "MAX_ITEMS_INCREASED"
)

// Changes to the identity of the CRD rather than to a schema. Apart from
// VersionAdded they are breaking: existing instances would be lost or
// served under another name.
const (
	GroupChanged   ChangeType = "GROUP_CHANGED"
	KindChanged    ChangeType = "KIND_CHANGED"
	ScopeChanged   ChangeType = "SCOPE_CHANGED"
	VersionChanged ChangeType = "VERSION_CHANGED"
	VersionRemoved ChangeType = "VERSION_REMOVED"
	VersionAdded   ChangeType = "VERSION_ADDED"
)

var breakingTypes = map[ChangeType]bool{
	PropertyRemoved: true, TypeChanged: true, RequiredAdded: true, EnumRestricted: true,
	PatternChanged: true, PatternAdded: true, RequiredDefaultRemoved: true,
	MinimumAdded: true, MinimumIncreased: true, MaximumAdded: true, MaximumDecreased: true,
	MinLengthAdded: true, MinLengthIncreased: true, MaxLengthAdded: true, MaxLengthDecreased: true,
	MinItemsAdded: true, MinItemsIncreased: true, MaxItemsAdded: true, MaxItemsDecreased: true,
	GroupChanged: true, KindChanged: true, ScopeChanged: true, VersionChanged: true, VersionRemoved: true,
}

// IsBreaking reports whether a change of type t can invalidate existing
// instances.
func (t ChangeType) IsBreaking() bool { return breakingTypes[t] }

// Change is one difference between two CRDs.
type Change struct {
	// Path locates the change. Schema changes use the instance's field path
	// (spec.ports[*].name; [*] stands for array items and map values; the
	// schema root is "<root>"), prefixed with versions[<name>]. when the CRDs
	// have more than one version. Changes to the CRD itself start with "crd."
	// (crd.spec.scope).
	Path string
	// Type is the kind of change.
	Type ChangeType
	// Old and New are the values before and after, rendered for people; empty
	// when there is none.
	Old, New string
	// Breaking is Type.IsBreaking().
	Breaking bool
}

// String renders the change on one line.
func (c Change) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", c.Path, c.Type)
	switch {
	case c.Old != "" && c.New != "":
		fmt.Fprintf(&b, " (%s -> %s)", c.Old, c.New)
	case c.Old != "":
		fmt.Fprintf(&b, " (was %s)", c.Old)
	case c.New != "":
		fmt.Fprintf(&b, " (now %s)", c.New)
	}
	return b.String()
}

// Report is the result of Compare: every change, sorted by path then type.
type Report struct {
	Changes []Change
}

// HasBreaking reports whether any change is breaking.
func (r Report) HasBreaking() bool {
	return slices.ContainsFunc(r.Changes, func(c Change) bool { return c.Breaking })
}

// BreakingChanges returns the breaking changes, in report order.
func (r Report) BreakingChanges() []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Breaking {
			out = append(out, c)
		}
	}
	return out
}

// String lists the breaking changes, one per line; it is empty when there
// are none.
func (r Report) String() string {
	lines := make([]string, 0, len(r.Changes))
	for _, c := range r.BreakingChanges() {
		lines = append(lines, c.String())
	}
	return strings.Join(lines, "\n")
}

// Compare lists the differences between the schemas of oldCRD and newCRD:
// each version's openAPIV3Schema (versions are matched by name; a single
// version whose name changed is compared with its successor), plus changed
// group, kind, scope and version names. Names, printer columns and metadata
// are not compared. A nil CRD on either side gives an empty report.
func Compare(oldCRD, newCRD *apiextensionsv1.CustomResourceDefinition) Report {
	var r Report
	if oldCRD == nil || newCRD == nil {
		return r
	}
	add := func(path string, t ChangeType, oldV, newV string) {
		r.Changes = append(r.Changes, Change{Path: path, Type: t, Old: oldV, New: newV, Breaking: t.IsBreaking()})
	}

	oldSpec, newSpec := &oldCRD.Spec, &newCRD.Spec
	if oldSpec.Group != newSpec.Group {
		add("crd.spec.group", GroupChanged, oldSpec.Group, newSpec.Group)
	}
	if oldSpec.Names.Kind != newSpec.Names.Kind {
		add("crd.spec.names.kind", KindChanged, oldSpec.Names.Kind, newSpec.Names.Kind)
	}
	if oldSpec.Scope != newSpec.Scope {
		add("crd.spec.scope", ScopeChanged, string(oldSpec.Scope), string(newSpec.Scope))
	}

	type pair struct {
		old, new *apiextensionsv1.CustomResourceDefinitionVersion
	}
	var pairs []pair
	var removed, added []*apiextensionsv1.CustomResourceDefinitionVersion
	for i := range oldSpec.Versions {
		ov := &oldSpec.Versions[i]
		j := slices.IndexFunc(newSpec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return v.Name == ov.Name })
		if j < 0 {
			removed = append(removed, ov)
			continue
		}
		pairs = append(pairs, pair{ov, &newSpec.Versions[j]})
	}
	for i := range newSpec.Versions {
		nv := &newSpec.Versions[i]
		if !slices.ContainsFunc(oldSpec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return v.Name == nv.Name }) {
			added = append(added, nv)
		}
	}
	if len(removed) == 1 && len(added) == 1 {
		add("crd.spec.versions["+removed[0].Name+"].name", VersionChanged, removed[0].Name, added[0].Name)
		pairs = append(pairs, pair{removed[0], added[0]})
	} else {
		for _, v := range removed {
			add("crd.spec.versions["+v.Name+"]", VersionRemoved, v.Name, "")
		}
		for _, v := range added {
			add("crd.spec.versions["+v.Name+"]", VersionAdded, "", v.Name)
		}
	}

	multi := len(oldSpec.Versions) > 1 || len(newSpec.Versions) > 1
	for _, p := range pairs {
		prefix := ""
		if multi {
			prefix = "versions[" + p.new.Name + "]"
		}
		compareSchema(prefix, versionSchema(p.old), versionSchema(p.new), false, add)
	}

	slices.SortStableFunc(r.Changes, func(a, b Change) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(string(a.Type), string(b.Type))
	})
	return r
}

// versionSchema returns the openAPIV3Schema of v, or an empty schema.
func versionSchema(v *apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.JSONSchemaProps {
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return &apiextensionsv1.JSONSchemaProps{}
	}
	return v.Schema.OpenAPIV3Schema
}

type addFunc func(path string, t ChangeType, oldV, newV string)

// compareSchema compares two schemas found at path. requiredInNew tells
// whether the new parent object requires this field.
func compareSchema(path string, o, n *apiextensionsv1.JSONSchemaProps, requiredInNew bool, add addFunc) {
	at := path
	if at == "" {
		at = "<root>"
	}
	if o.Type != n.Type {
		add(at, TypeChanged, typeName(o), typeName(n))
		return // the rest of the old schema no longer applies
	}

	if o.Description != n.Description {
		add(at, DescriptionChanged, o.Description, n.Description)
	}
	compareDefault(at, o, n, requiredInNew, add)
	compareEnum(at, o.Enum, n.Enum, add)
	comparePattern(at, o.Pattern, n.Pattern, add)
	compareBounds(at, o, n, add)

	oldRequired, newRequired := toSet(o.Required), toSet(n.Required)
	compareProperties(path, o, n, newRequired, add)
	compareRequired(path, o, n, oldRequired, newRequired, add)
	compareElements(path, o, n, add)
}

// comparePattern reports an added, removed or changed pattern.
func comparePattern(at, o, n string, add addFunc) {
	switch {
	case o == n:
	case o == "":
		add(at, PatternAdded, "", n)
	case n == "":
		add(at, PatternRemoved, o, "")
	default:
		add(at, PatternChanged, o, n)
	}
}

// compareBounds reports changes to the numeric, length and item-count
// bounds, in that order.
func compareBounds(at string, o, n *apiextensionsv1.JSONSchemaProps, add addFunc) {
	compareLowerBound(at, o.Minimum, n.Minimum, MinimumAdded, MinimumRemoved, MinimumIncreased, MinimumDecreased, formatFloat, add)
	compareUpperBound(at, o.Maximum, n.Maximum, MaximumAdded, MaximumRemoved, MaximumDecreased, MaximumIncreased, formatFloat, add)
	compareLowerBound(at, o.MinLength, n.MinLength, MinLengthAdded, MinLengthRemoved, MinLengthIncreased, MinLengthDecreased, formatInt, add)
	compareUpperBound(at, o.MaxLength, n.MaxLength, MaxLengthAdded, MaxLengthRemoved, MaxLengthDecreased, MaxLengthIncreased, formatInt, add)
	compareLowerBound(at, o.MinItems, n.MinItems, MinItemsAdded, MinItemsRemoved, MinItemsIncreased, MinItemsDecreased, formatInt, add)
	compareUpperBound(at, o.MaxItems, n.MaxItems, MaxItemsAdded, MaxItemsRemoved, MaxItemsDecreased, MaxItemsIncreased, formatInt, add)
}

// compareProperties reports removed and added properties, in name order,
// and compares the schemas of properties both sides have.
func compareProperties(path string, o, n *apiextensionsv1.JSONSchemaProps, newRequired map[string]bool, add addFunc) {
	for _, name := range propertyNames(o, n) {
		child := joinPath(path, name)
		op, inOld := o.Properties[name]
		np, inNew := n.Properties[name]
		switch {
		case !inNew:
			add(child, PropertyRemoved, typeName(&op), "")
		case !inOld:
			add(child, PropertyAdded, "", typeName(&np))
		default:
			compareSchema(child, &op, &np, newRequired[name], add)
		}
	}
}

// propertyNames returns the names of the properties of o and n, sorted and
// without duplicates.
func propertyNames(o, n *apiextensionsv1.JSONSchemaProps) []string {
	names := make([]string, 0, len(o.Properties)+len(n.Properties))
	for name := range o.Properties {
		names = append(names, name)
	}
	for name := range n.Properties {
		if _, ok := o.Properties[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// compareRequired reports fields that became required or optional.
// Required entries are compared by name, also for names that have no
// property schema; a removed property is already reported as such.
func compareRequired(path string, o, n *apiextensionsv1.JSONSchemaProps, oldRequired, newRequired map[string]bool, add addFunc) {
	for _, name := range slices.Sorted(maps.Keys(newRequired)) {
		if !oldRequired[name] {
			add(joinPath(path, name), RequiredAdded, "optional", "required")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(oldRequired)) {
		if hasProperty(o, name) && !hasProperty(n, name) {
			continue
		}
		if !newRequired[name] {
			add(joinPath(path, name), RequiredRemoved, "required", "optional")
		}
	}
}

// compareElements compares the schemas of array items and of map values
// (additionalProperties) when both sides have one.
func compareElements(path string, o, n *apiextensionsv1.JSONSchemaProps, add addFunc) {
	if o.Items != nil && n.Items != nil && o.Items.Schema != nil && n.Items.Schema != nil {
		compareSchema(path+"[*]", o.Items.Schema, n.Items.Schema, false, add)
	}
	if o.AdditionalProperties != nil && n.AdditionalProperties != nil &&
		o.AdditionalProperties.Schema != nil && n.AdditionalProperties.Schema != nil {
		compareSchema(path+"[*]", o.AdditionalProperties.Schema, n.AdditionalProperties.Schema, false, add)
	}
}

func hasProperty(s *apiextensionsv1.JSONSchemaProps, name string) bool {
	_, ok := s.Properties[name]
	return ok
}

// compareDefault reports a changed default. Losing the default of a field
// the new schema requires is breaking (REQUIRED_DEFAULT_REMOVED): instances
// that relied on the default must now set the field.
func compareDefault(at string, o, n *apiextensionsv1.JSONSchemaProps, requiredInNew bool, add addFunc) {
	oldDefault, newDefault := jsonText(o.Default), jsonText(n.Default)
	if oldDefault == newDefault {
		return
	}
	if requiredInNew && o.Default != nil && n.Default == nil {
		add(at, RequiredDefaultRemoved, oldDefault, "")
		return
	}
	add(at, DefaultChanged, oldDefault, newDefault)
}

// compareEnum reports a restricted enum (a value removed, or an enum added)
// or an expanded one (values added, or the enum removed).
func compareEnum(at string, o, n []apiextensionsv1.JSON, add addFunc) {
	if len(o) == 0 && len(n) == 0 {
		return
	}
	oldValues, newValues := enumValues(o), enumValues(n)
	if slices.Equal(oldValues, newValues) {
		return
	}
	oldText, newText := "["+strings.Join(oldValues, ",")+"]", "["+strings.Join(newValues, ",")+"]"
	switch {
	case len(o) == 0:
		add(at, EnumRestricted, "", newText)
	case len(n) == 0:
		add(at, EnumExpanded, oldText, "")
	case slices.ContainsFunc(oldValues, func(v string) bool { return !slices.Contains(newValues, v) }):
		add(at, EnumRestricted, oldText, newText)
	default:
		add(at, EnumExpanded, oldText, newText)
	}
}

type number interface{ ~int64 | ~float64 }

// compareLowerBound reports a minimum-like constraint: raising it is breaking.
func compareLowerBound[T number](at string, o, n *T, added, removed, raised, lowered ChangeType, format func(T) string, add addFunc) {
	switch {
	case o == nil && n == nil:
	case o == nil:
		add(at, added, "", format(*n))
	case n == nil:
		add(at, removed, format(*o), "")
	case *n > *o:
		add(at, raised, format(*o), format(*n))
	case *n < *o:
		add(at, lowered, format(*o), format(*n))
	}
}

// compareUpperBound reports a maximum-like constraint: lowering it is breaking.
func compareUpperBound[T number](at string, o, n *T, added, removed, lowered, raised ChangeType, format func(T) string, add addFunc) {
	switch {
	case o == nil && n == nil:
	case o == nil:
		add(at, added, "", format(*n))
	case n == nil:
		add(at, removed, format(*o), "")
	case *n < *o:
		add(at, lowered, format(*o), format(*n))
	case *n > *o:
		add(at, raised, format(*o), format(*n))
	}
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
func formatInt(v int64) string     { return strconv.FormatInt(v, 10) }

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func typeName(s *apiextensionsv1.JSONSchemaProps) string {
	if s.Type == "" {
		return "any"
	}
	return s.Type
}

// jsonText renders a JSON value canonically (object keys sorted, no
// spaces), so that equal values compare equal; "" for none.
func jsonText(j *apiextensionsv1.JSON) string {
	if j == nil {
		return ""
	}
	return canonicalJSON(j.Raw)
}

func canonicalJSON(raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(out)
}

// enumValues returns the canonical text of each enum value, sorted and
// without duplicates, so that reordering an enum is no change.
func enumValues(values []apiextensionsv1.JSON) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		out = append(out, canonicalJSON(v.Raw))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func toSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}
