package policystore

import (
	"cmp"
	"strings"
)

// SanitizeID keeps letters, digits, '-' and '_' (a KV key token).
func SanitizeID(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 128 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
	return cmp.Or(s, "replica")
}
