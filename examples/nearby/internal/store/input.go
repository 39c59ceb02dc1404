package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// inputError is bad input: its text says what was wrong, its kind
// (ErrEmpty, ErrTooLong, ErrInvalid) is what errors.Is matches.
type inputError struct {
	msg  string
	kind error
}

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return e.kind }

func badInput(kind error, format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// checkName checks a display name: trimmed, 1 to MaxName characters, no
// control characters.
func checkName(what, s string) error {
	if err := checkText(what, s, MaxName); err != nil {
		return err
	}
	if strings.TrimSpace(s) != s {
		return badInput(ErrInvalid, "%s must not start or end with spaces", what)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return badInput(ErrInvalid, "%s must not contain control characters", what)
	}
	if strings.ContainsFunc(s, invisible) {
		return badInput(ErrInvalid, "%s must not contain invisible characters", what)
	}
	return nil
}

// invisible reports whether r is drawn as nothing (a zero-width space or
// joiner, a variation selector, a bidirectional mark…): a name holding one
// would look like another.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// checkText checks that s is valid UTF-8 of 1 to max characters.
func checkText(what, s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return badInput(ErrEmpty, "%s is empty", what)
	case !utf8.ValidString(s):
		return badInput(ErrInvalid, "%s is not valid UTF-8", what)
	case utf8.RuneCountInString(s) > max:
		return badInput(ErrTooLong, "%s is longer than %d characters", what, max)
	}
	return nil
}

// Key is the form of a name that decides whether two names are the same:
// compatibility-normalized and case-folded, so "Zoë", "ZOË", "zoe\u0308"
// and "ｚｏë" are one name, and "Ada （Bot）" ends like "ada (bot)".
func Key(name string) string { return key(name) }

func key(name string) string {
	// A Caser keeps state: one per call.
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}

// pair is a conversation's key: the two names' keys in order.
func pair(a, b string) (string, string) {
	ka, kb := key(a), key(b)
	if kb < ka {
		ka, kb = kb, ka
	}
	return ka, kb
}
