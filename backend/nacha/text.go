package nacha

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// fieldText returns s as NACHA alphanumeric text at most width characters
// wide: accents dropped (É becomes E), letters uppercased, and anything but
// letters, digits and a few safe marks turned into spaces, with runs of
// spaces collapsed. It may return "" when nothing of s survives.
func fieldText(s string, width int) string {
	var b strings.Builder
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue // a combining accent of the letter before it
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-.,'&/", r):
		default:
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > width {
		out = strings.TrimRight(out[:width], " ")
	}
	return out
}

// allDigits reports whether s is non-empty and only ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
