package ledger

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on free text, in characters (Unicode code points).
const (
	MaxNameLength        = 100
	MaxDescriptionLength = 500
	MaxEmailLength       = 254
)

// checkText validates a required free-text field: not blank, at most max
// characters, valid UTF-8, and no control characters other than tab and
// newlines (PostgreSQL text cannot hold NUL, and the rest only hide content).
func checkText(v *validation, field, value string, max int) {
	switch {
	case strings.TrimSpace(value) == "":
		v.add(field, "must not be empty")
	case !utf8.ValidString(value):
		v.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(value) > max:
		v.add(field, "must be at most %d characters", max)
	case strings.IndexFunc(value, isForbiddenControl) >= 0:
		v.add(field, "must not contain control characters")
	}
}

func isForbiddenControl(r rune) bool {
	return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
}

// checkEmail validates a bare e-mail address (no display name).
func checkEmail(v *validation, field, value string) {
	if len(value) > MaxEmailLength {
		v.add(field, "must be at most %d characters", MaxEmailLength)
		return
	}
	addr, err := mail.ParseAddress(value)
	if err != nil || addr.Address != value || addr.Name != "" {
		v.add(field, "must be an e-mail address such as ada@example.com")
	}
}
