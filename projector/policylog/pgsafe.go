package policylog

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/invitegate/invitegate/decider"
)

// PostgreSQL refuses NUL in text and "\u0000" in jsonb, and invalid UTF-8
// anywhere. A policy event may carry any of them (even one the replicas
// reject), and the audit must still record it: noteList rewrites such
// values into a safe form (NUL as the six characters \u0000, invalid bytes
// as U+FFFD) and remembers which fields it changed, for stored_note.
type noteList []string

func (n *noteList) String() string {
	if len(*n) == 0 {
		return ""
	}
	return "rewritten to be stored (NUL as the text \\u0000, invalid UTF-8 as U+FFFD): " + strings.Join(*n, ", ")
}

// safeText returns s as PostgreSQL text accepts it, and whether it changed.
func safeText(s string) (string, bool) {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s, false
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", `\u0000`), true
}

func (n *noteList) text(field, s string) string {
	out, changed := safeText(s)
	if changed {
		*n = append(*n, field)
	}
	return out
}

func (n *noteList) ptr(field string, s *string) *string {
	if s == nil {
		return nil
	}
	out := n.text(field, *s)
	return &out
}

func (n *noteList) texts(field string, ss []string) []string {
	var out []string
	for i, s := range ss {
		if safe, changed := safeText(s); changed {
			if out == nil {
				out = append([]string(nil), ss...)
				*n = append(*n, field)
			}
			out[i] = safe
		}
	}
	if out == nil {
		return ss
	}
	return out
}

// document returns d as JSON jsonb accepts: a NUL in any of its strings
// is written as the text \u0000.
func (n *noteList) document(field string, d *decider.Document) *string {
	if d == nil {
		return nil
	}
	var changed bool
	fix := func(s string) string {
		out, c := safeText(s)
		changed = changed || c
		return out
	}
	safe := decider.Document{APIVersion: fix(d.APIVersion), Rules: make([]decider.RuleSpec, len(d.Rules))}
	for i, r := range d.Rules {
		r.Name, r.Reject, r.RefuseMember, r.ErrorInfo, r.Mode = fix(r.Name), fix(r.Reject), fix(r.RefuseMember), fix(r.ErrorInfo), fix(r.Mode)
		safe.Rules[i] = r
	}
	if d.Lists != nil {
		safe.Lists = make(map[string][]string, len(d.Lists))
		for name, ids := range d.Lists {
			out := make([]string, len(ids))
			for i, id := range ids {
				out[i] = fix(id)
			}
			safe.Lists[fix(name)] = out
		}
	}
	if changed {
		*n = append(*n, field)
		d = &safe
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
}
