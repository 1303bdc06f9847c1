package simpleschema

import (
	"errors"
	"fmt"
	"strings"
)

// Marker keys understood by SimpleSchema. Any other key is rejected with ErrUnknownMarker.
const (
	MarkerRequired    = "required"
	MarkerDefault     = "default"
	MarkerDescription = "description"
	MarkerEnum        = "enum"
	MarkerMinimum     = "minimum"
	MarkerMaximum     = "maximum"
	MarkerPattern     = "pattern"
	MarkerMinLength   = "minLength"
	MarkerMaxLength   = "maxLength"
	MarkerMinItems    = "minItems"
	MarkerMaxItems    = "maxItems"
	MarkerUniqueItems = "uniqueItems"
	MarkerListType    = "listType"
	MarkerListMapKey  = "listMapKey"
	MarkerImmutable   = "immutable"
	MarkerValidation  = "validation"
)

// knownMarkers holds every marker key; the value tells whether the marker may repeat.
var knownMarkers = map[string]bool{
	MarkerRequired: false, MarkerDefault: false, MarkerDescription: false, MarkerEnum: false,
	MarkerMinimum: false, MarkerMaximum: false, MarkerPattern: false, MarkerMinLength: false,
	MarkerMaxLength: false, MarkerMinItems: false, MarkerMaxItems: false, MarkerUniqueItems: false,
	MarkerListType: false, MarkerListMapKey: true, MarkerImmutable: false, MarkerValidation: true,
}

// Sentinel errors of ParseField; test with errors.Is.
var (
	// ErrUnknownMarker is returned for a marker key that SimpleSchema does not define.
	ErrUnknownMarker = errors.New("unknown marker")
	// ErrEmptyMarkerKey is returned for a marker written as "=value".
	ErrEmptyMarkerKey = errors.New("empty marker key")
	// ErrMarkerWithoutValue is returned for a marker key that has no "=value".
	ErrMarkerWithoutValue = errors.New("marker without a value")
	// ErrUnclosedQuote is returned for a "…" value without its closing quote.
	ErrUnclosedQuote = errors.New("unclosed quote")
	// ErrUnclosedBracket is returned for a {…} or […] value whose brackets do not close.
	ErrUnclosedBracket = errors.New("unclosed bracket/brace")
	// ErrUnquotedSpaces is returned for an unquoted value followed by words
	// without "=" (default=IRSA role for ACK): a value with spaces must be
	// quoted. The words are reported once, with the marker, not one by one.
	ErrUnquotedSpaces = errors.New("a value with spaces must be quoted")
)

// Field is one parsed SimpleSchema field definition.
type Field struct {
	// Type is the type expression before the "|", trimmed (e.g. "[]string", "Person").
	Type string
	// Markers are the markers after the "|", in the order written.
	Markers []Marker
}

// Marker is one key=value pair of a field definition. Value is unquoted: surrounding
// quotes are removed and \" is turned into ".
type Marker struct {
	Key   string
	Value string
}

// ParseError is one problem found by ParseField. Kind is one of the Err* sentinels.
type ParseError struct {
	Kind error
	// Key is the marker key concerned, when there is one.
	Key string
	// Value is the whole value written, for ErrUnquotedSpaces.
	Value string
}

// Error implements error.
func (e *ParseError) Error() string {
	switch e.Kind {
	case ErrUnknownMarker:
		return fmt.Sprintf("unknown marker %q", e.Key)
	case ErrMarkerWithoutValue:
		return fmt.Sprintf("marker key %q without a value", e.Key)
	case ErrUnclosedQuote, ErrUnclosedBracket:
		if e.Key == "" {
			return e.Kind.Error()
		}
		return fmt.Sprintf("%s in the value of marker %q", e.Kind, e.Key)
	case ErrEmptyMarkerKey:
		return e.Kind.Error()
	case ErrUnquotedSpaces:
		quoted := `"` + strings.ReplaceAll(e.Value, `"`, `\"`) + `"`
		return fmt.Sprintf("marker %q: the value %q has spaces and must be quoted, as in %s=%s", e.Key, e.Value, e.Key, quoted)
	default:
		return fmt.Sprintf("marker %q: %v", e.Key, e.Kind)
	}
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Kind }

// ParseField splits one field definition into its type expression and its markers.
// The type is everything before the first "|". Markers are separated by whitespace;
// a value may be "quoted" (spaces and \" allowed) or a bracket-balanced {…} / […] JSON
// value. Every problem found is returned, joined with errors.Join; each is a *ParseError.
// Markers that parsed are returned even when there are errors.
func ParseField(s string) (Field, error) {
	typ, rest, hasMarkers := strings.Cut(s, "|")
	f := Field{Type: strings.TrimSpace(typ)}
	if !hasMarkers {
		return f, nil
	}
	markers, errs := parseMarkers(rest)
	f.Markers = markers
	return f, errors.Join(errs...)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// parseMarkers scans "k=v k2=\"v 2\" ..." and returns the markers and every error.
func parseMarkers(s string) ([]Marker, []error) {
	var (
		markers []Marker
		errs    []error
	)
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		if i >= len(s) || isSpace(s[i]) {
			errs = append(errs, &ParseError{Kind: ErrMarkerWithoutValue, Key: key})
			continue
		}
		i++ // '='
		valueStart := i
		value, next, err := scanValue(s, i)
		i = next
		if err != nil {
			errs = append(errs, &ParseError{Kind: err, Key: key})
			break // the rest of the input cannot be split reliably
		}
		if value != nil && !strings.ContainsRune(`"{[`, rune(s[valueStart])) {
			if end, ok := unquotedWords(s, i); ok {
				errs = append(errs, &ParseError{Kind: ErrUnquotedSpaces, Key: key, Value: s[valueStart:end]})
				i = end
				continue
			}
		}
		switch {
		case key == "":
			errs = append(errs, &ParseError{Kind: ErrEmptyMarkerKey})
		case value == nil:
			errs = append(errs, &ParseError{Kind: ErrMarkerWithoutValue, Key: key})
		default:
			if _, ok := knownMarkers[key]; !ok {
				errs = append(errs, &ParseError{Kind: ErrUnknownMarker, Key: key})
				continue
			}
			markers = append(markers, Marker{Key: key, Value: *value})
		}
	}
	return markers, errs
}

// unquotedWords looks at the words that follow an unquoted value ending at
// s[i]: words without "=" up to the next marker. It returns the end of the
// last one and true when they continue the value (default=IRSA role for ACK).
// Words that are all marker keys are not a continuation but markers written
// without a value (required=true immutable), reported one by one.
func unquotedWords(s string, i int) (int, bool) {
	end, continues := i, false
	for {
		j := i
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		k := j
		for k < len(s) && !isSpace(s[k]) && s[k] != '=' {
			k++
		}
		if k == j || (k < len(s) && s[k] == '=') {
			return end, continues
		}
		if _, isKey := knownMarkers[s[j:k]]; !isKey {
			continues = true
		}
		i, end = k, k
	}
}

// scanValue reads one marker value starting at s[i]. It returns nil for an empty
// unquoted value, and the index just after the value.
func scanValue(s string, i int) (*string, int, error) {
	if i >= len(s) || isSpace(s[i]) {
		return nil, i, nil
	}
	switch s[i] {
	case '"':
		var b strings.Builder
		for j := i + 1; j < len(s); j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) && s[j+1] == '"' {
				b.WriteByte('"')
				j++
				continue
			}
			if c == '"' {
				v := b.String()
				return &v, j + 1, nil
			}
			b.WriteByte(c)
		}
		return nil, len(s), ErrUnclosedQuote
	case '{', '[':
		depth, inString := 0, false
		for j := i; j < len(s); j++ {
			c := s[j]
			if inString {
				switch c {
				case '\\':
					j++
				case '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					// a value glued to text after the bracket keeps that text, so the
					// JSON check later reports it instead of it becoming a new marker.
					end := j + 1
					for end < len(s) && !isSpace(s[end]) {
						end++
					}
					v := s[i:end]
					return &v, end, nil
				}
			}
		}
		return nil, len(s), ErrUnclosedBracket
	default:
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		v := s[i:j]
		return &v, j, nil
	}
}
