// Package template scans the `${...}` expressions embedded in RGD string values.
//
// Parse splits a string into literal text and CEL expression segments. A string that is exactly one
// `${...}` is standalone (the field takes the expression's type); anything else is a string template whose
// parts are concatenated. The scanner understands CEL string literals (quotes, escapes, raw and triple-quoted
// strings) and map literals, so braces and `${` inside them do not end or nest an expression. Unlike kro, an
// unterminated `${` is an error rather than literal text.
package template
