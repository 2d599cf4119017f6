package ingresstest

import (
	"strconv"
	"strings"
)

// Body is one worst-case callback body.
type Body struct {
	Name string
	Data []byte
	// Status is the HTTP status the ingress answers it with (for an invite).
	Status int
}

const head = `{"CallbackCommand":"Group.CallbackBeforeInviteJoinGroup","GroupId":"@TGS#2J4SZEAEL","Type":"Public","Operator_Account":"leckie",`

// fill repeats unit after prefix until the body (with suffix) would exceed
// size, and returns the body.
func fill(prefix, unit, suffix string, size int) []byte {
	n := max(0, (size-len(prefix)-len(suffix))/len(unit))
	var b strings.Builder
	b.Grow(len(prefix) + n*len(unit) + len(suffix))
	b.WriteString(prefix)
	for range n {
		b.WriteString(unit)
	}
	b.WriteString(suffix)
	return []byte(b.String())
}

// Bodies returns the worst-case invite bodies of at most maxBytes each
// (the ingress's --max-body-bytes; at least 64 KiB), and the status each
// is answered with under the default limits (--max-members 1000).
func Bodies(maxBytes int) []Body {
	maxBytes = max(maxBytes, 64<<10)
	half := maxBytes / 2
	return []Body{
		// The key repeated thousands of times, then a brace flood in a
		// string: once each repetition re-counted the braces ahead.
		{"repeated-keys", fill(head, `"DestinationMembers":[],`, `"DestinationMembers":[{"Member_Account":"jared"}],"X":"`+strings.Repeat("{", half)+`"}`, maxBytes), 200},
		// The key repeated with one member each: the slice is reused.
		{"repeated-keys-members", fill(head, `"DestinationMembers":[{"Member_Account":"a"}],`, `"EventTime":1}`, maxBytes), 200},
		// A brace flood where members are expected: malformed at once.
		{"brace-flood-members", fill(head+`"DestinationMembers":[`, `{`, ``, maxBytes), 400},
		// A brace flood in an unknown key: nesting past encoding/json's limit.
		{"brace-flood-unknown", fill(head+`"X":`, `[`, ``, maxBytes), 400},
		// Nesting at encoding/json's limit, valid, in an unknown key, then
		// a member list.
		{"deep-nesting", []byte(head + `"X":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) +
			`,"DestinationMembers":[{"Member_Account":"jared","Y":` + strings.Repeat("[", 9990) + strings.Repeat("]", 9990) + `}]}`), 200},
		// A string of maxBytes in an unknown key: valid, skipped.
		{"long-string-unknown", fill(head+`"DestinationMembers":[{"Member_Account":"jared"}],"X":"`, `a`, `"}`, maxBytes), 200},
		// The same in GroupId: a 400 naming the field.
		{"long-string-group-id", fill(`{"DestinationMembers":[{"Member_Account":"jared"}],"Operator_Account":"o","GroupId":"`, `a`, `"}`, maxBytes), 400},
		// As many tiny members as fit (100,000 when maxBytes allows): over
		// the member cap, answered by the fail mode.
		{"tiny-members", tinyMembers(maxBytes), 200},
		// Escapes everywhere: an escaped string of maxBytes/2 in an unknown
		// key, and escaped member accounts.
		{"escapes", fill(head+`"X":"`, `\u00e9\ud83d\ude00\n\"\\`, `","DestinationMembers":[`+escapedMembers(half/64)+`]}`, maxBytes), 200},
		// Thousands of unknown keys.
		{"unknown-keys", fill(head+`"DestinationMembers":[{"Member_Account":"jared"}],`, `"k":[0,{}],`, `"Z":0}`, maxBytes), 200},
	}
}

// tinyMembers is an invite of min(100,000, what fits) one-byte members.
func tinyMembers(maxBytes int) []byte {
	const unit = `{"Member_Account":"x"},`
	n := min(100_000, (maxBytes-len(head)-64)/len(unit))
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(`"DestinationMembers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(unit[:len(unit)-1])
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// escapedMembers is n members whose accounts are written with escapes
// (at most 64 bytes each once unescaped, within IM's bounds).
func escapedMembers(n int) string {
	n = min(n, 900) // under the member cap: these are decided
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `{"Member_Account":"\u0075ser-` + strconv.Itoa(i) + `\t\u00e9"}`
	}
	return strings.Join(parts, ",")
}
