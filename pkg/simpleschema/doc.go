// Package simpleschema turns kro's SimpleSchema, the compact field syntax used in a
// ResourceGraphDefinition's spec.schema.spec and spec.schema.types, into the OpenAPI v3
// schema (apiextensions/v1 JSONSchemaProps) of the generated CRD's spec.
//
// A field is written as "<type> | marker=value marker2=\"quoted value\"". Types are the
// scalars string, integer, boolean and float, the free-form object, arrays ([]T), maps
// with string keys (map[string]T), nested YAML maps (structs) and custom types declared
// in spec.schema.types. ParseField splits one definition; ToOpenAPI converts a whole
// schema and reports every problem at once, each naming its field path.
package simpleschema
