package decider

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The hand-written decoder of an event line, the projector's hot path
// (encoding/json spends ~13 µs on an event, mostly in reflection).
//
// decodeEventFast is exact, not lenient: it accepts an input only when it
// is certain encoding/json would decode that input without error into the
// same Event, and then it fills ev as encoding/json would: unknown keys
// skipped (after checking their values' syntax), escapes and \u surrogate
// pairs decoded, invalid UTF-8 and lone surrogates replaced by U+FFFD,
// "[]" an empty non-nil slice, times parsed by time.Time.UnmarshalJSON
// itself. Everything else makes it return false, and DecodeEvent hands the
// line to encoding/json for the authoritative result or error: invalid
// JSON, a value of the wrong type, an integer out of range, null, a
// repeated key, a key that names a field only case-insensitively (which
// encoding/json accepts), nesting deeper than maxSkipDepth. Such lines are
// rare (the encoder never writes them), so their cost does not matter, and
// every error a bad line reports is exactly encoding/json's.
// TestDecodeEventMatchesEncodingJSON and FuzzDecodeEvent hold it to that.

// maxSkipDepth bounds the nesting of skipped unknown values; deeper ones go
// to encoding/json (which allows 10,000).
const maxSkipDepth = 64

// JSON keys of Event, in the encoder's order (see appendEventJSON), so that
// a canonical line matches each key at its first comparison.
const (
	fSchema = iota
	fID
	fKind
	fApp
	fCommand
	fGroupID
	fGroupType
	fOperator
	fMembers
	fOutcome
	fRefused
	fErrorCode
	fErrorInfo
	fRejectRule
	fShadow
	fPolicyRevision
	fFailMode
	fStats
	fStatsUnread
	fStatsKnown
	fChangeType
	fPlatform
	fClientIP
	fEventTime
	fReceivedAt
	fDecidedAt
	fLimit
)

var (
	eventKeys = []string{"schema", "id", "kind", "app", "command", "group_id", "group_type", "operator",
		"members", "outcome", "refused", "error_code", "error_info", "reject_rule", "shadow",
		"policy_revision", "fail_mode", "stats", "stats_unread", "stats_known", "change_type", "platform", "client_ip", "event_time",
		"received_at", "decided_at", "limit"}
	refusalKeys = []string{"member", "rule"}
	shadowKeys  = []string{"rule", "kind", "members"}
	statKeys    = []string{"stat", "key", "value"}
)

// decodeEventFast decodes line into ev, a zero Event, or returns false
// (ev then holds partial values).
func decodeEventFast(line []byte, ev *Event) bool {
	d := eventDecoder{data: line}
	if !d.object(eventKeys, func(f int) bool { return d.eventField(ev, f) }) {
		return false
	}
	d.space()
	return d.i == len(d.data)
}

func (d *eventDecoder) eventField(ev *Event, f int) bool {
	switch f {
	case fSchema:
		return d.int(&ev.Schema)
	case fID:
		return d.str(&ev.ID)
	case fKind:
		return d.str(&ev.Kind)
	case fApp:
		return d.str(&ev.App)
	case fCommand:
		return d.str(&ev.Command)
	case fGroupID:
		return d.str(&ev.GroupID)
	case fGroupType:
		return d.str(&ev.GroupType)
	case fOperator:
		return d.str(&ev.Operator)
	case fMembers:
		return d.strs(&ev.Members)
	case fOutcome:
		return d.str((*string)(&ev.Outcome))
	case fRefused:
		return array(d, &ev.Refused, d.refusal)
	case fErrorCode:
		return d.int(&ev.ErrorCode)
	case fErrorInfo:
		return d.str(&ev.ErrorInfo)
	case fRejectRule:
		return d.str(&ev.RejectRule)
	case fShadow:
		return array(d, &ev.Shadow, d.shadow)
	case fPolicyRevision:
		return d.uint(&ev.PolicyRevision)
	case fFailMode:
		return d.bool(&ev.FailMode)
	case fStats:
		return array(d, &ev.Stats, d.stat)
	case fStatsUnread:
		return array(d, &ev.StatsUnread, d.stat)
	case fStatsKnown:
		return d.strs(&ev.StatsKnown)
	case fChangeType:
		return d.str(&ev.ChangeType)
	case fPlatform:
		return d.str(&ev.Platform)
	case fClientIP:
		return d.str(&ev.ClientIP)
	case fEventTime:
		ev.EventTime = new(time.Time)
		return d.time(ev.EventTime)
	case fReceivedAt:
		return d.time(&ev.ReceivedAt)
	case fDecidedAt:
		return d.time(&ev.DecidedAt)
	case fLimit:
		return d.str(&ev.Limit)
	}
	return d.skip(0) // a key encoding/json ignores
}

func (d *eventDecoder) refusal(r *Refusal) bool {
	return d.object(refusalKeys, func(f int) bool { return d.into(f, &r.Member, &r.Rule) })
}

func (d *eventDecoder) shadow(s *ShadowEffect) bool {
	return d.object(shadowKeys, func(f int) bool { return d.into(f, &s.Rule, &s.Kind, &s.Members) })
}

func (d *eventDecoder) stat(s *StatRead) bool {
	return d.object(statKeys, func(f int) bool { return d.into(f, &s.Stat, &s.Key, &s.Value) })
}

// into reads the value of the f-th key of a small object into fields[f],
// or skips it when f is -1.
func (d *eventDecoder) into(f int, fields ...any) bool {
	if f < 0 {
		return d.skip(0)
	}
	switch p := fields[f].(type) {
	case *string:
		return d.str(p)
	case *[]string:
		return d.strs(p)
	case *int64:
		return d.int64(p)
	}
	panic(fmt.Sprintf("decider: no decoder for %T", fields[f]))
}

// eventDecoder reads JSON from data at i. Every method returns false on
// anything decodeEventFast leaves to encoding/json.
type eventDecoder struct {
	data []byte
	i    int
}

// space skips JSON white space.
func (d *eventDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, reporting whether c was there.
func (d *eventDecoder) consume(c byte) bool {
	d.space()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads an object whose fields are keys: value is called with the
// index of each key in keys, or -1 for a key encoding/json would ignore,
// and must read the value. A repeated key, or one that matches a field
// only case-insensitively, returns false.
func (d *eventDecoder) object(keys []string, value func(f int) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	var seen uint64
	next := 0 // the key that follows the previous one in the encoder's order
	for {
		d.space()
		key, ok := d.key()
		if !ok || !d.consume(':') {
			return false
		}
		f := -1
		if next < len(keys) && string(key) == keys[next] {
			f = next
		} else if f, ok = lookup(keys, key); !ok {
			return false
		}
		if f >= 0 {
			if seen&(1<<f) != 0 {
				return false
			}
			seen |= 1 << f
			next = f + 1
		}
		d.space()
		if !value(f) {
			return false
		}
		if !d.consume(',') {
			return d.consume('}')
		}
	}
}

// lookup returns the index of key in keys, or -1 with ok when no field
// matches it even case-insensitively (encoding/json matches a key to a
// field by bytes.EqualFold when no name is equal).
func lookup(keys []string, key []byte) (f int, ok bool) {
	for i, k := range keys {
		if string(key) == k {
			return i, true
		}
	}
	for _, k := range keys {
		if bytes.EqualFold(key, []byte(k)) {
			return 0, false
		}
	}
	return -1, true
}

// key reads an object key: a string, unescaped only if it has escapes.
func (d *eventDecoder) key() ([]byte, bool) {
	start := d.i
	end, plain, ok := d.scanString()
	if !ok {
		return nil, false
	}
	if plain {
		return d.data[start+1 : end-1], true
	}
	return unquote(d.data[start+1 : end-1]), true
}

// str reads a JSON string into s.
func (d *eventDecoder) str(s *string) bool {
	start := d.i
	end, plain, ok := d.scanString()
	if !ok {
		return false
	}
	content := d.data[start+1 : end-1]
	if plain || bytes.IndexByte(content, '\\') < 0 && utf8.Valid(content) {
		*s = string(content) // its own value: no escape, valid UTF-8
	} else {
		*s = string(unquote(content))
	}
	return true
}

// scanString checks the JSON string at d.i as encoding/json's scanner does
// and moves past it. end is the index after its closing quote; plain
// reports that its content is ASCII without escapes, its own value.
func (d *eventDecoder) scanString() (end int, plain, ok bool) {
	i := d.i
	if i >= len(d.data) || d.data[i] != '"' {
		return 0, false, false
	}
	plain = true
	for i++; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.i = i + 1
			return d.i, plain, true
		case c < 0x20:
			return 0, false, false
		case c >= utf8.RuneSelf:
			plain = false
		case c == '\\':
			plain = false
			if i++; i >= len(d.data) {
				return 0, false, false
			}
			switch d.data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if hex4(d.data[i+1:]) < 0 {
					return 0, false, false
				}
				i += 4
			default:
				return 0, false, false
			}
		}
	}
	return 0, false, false
}

// hex4 decodes the 4 hex digits at the start of s, or returns -1.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote decodes the content of a JSON string that scanString accepted,
// as encoding/json does: escapes decoded, a \u surrogate pair joined, a
// lone surrogate and each byte of invalid UTF-8 replaced by U+FFFD.
func unquote(s []byte) []byte {
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			i++
			switch c = s[i]; c {
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'u':
				r := hex4(s[i+1:])
				i += 5
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 = hex4(s[i+2:])
					}
					if r = utf16.DecodeRune(r, r2); r != unicode.ReplacementChar {
						i += 6
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			}
			b = append(b, c) // '"', '\\', '/' and the letters above
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
	return b
}

// strs reads an array of strings into *ss ("[]" is an empty slice).
func (d *eventDecoder) strs(ss *[]string) bool {
	return array(d, ss, d.str)
}

// array reads a JSON array into *xs, each element by elem; "[]" is an
// empty, non-nil slice, as encoding/json makes it.
func array[T any](d *eventDecoder, xs *[]T, elem func(*T) bool) bool {
	if !d.consume('[') {
		return false
	}
	out := make([]T, 0, 2)
	if !d.consume(']') {
		for {
			out = append(out, *new(T))
			d.space()
			if !elem(&out[len(out)-1]) {
				return false
			}
			if !d.consume(',') {
				if !d.consume(']') {
					return false
				}
				break
			}
		}
	}
	*xs = out
	return true
}

// number reads a JSON number and returns its text.
func (d *eventDecoder) number() ([]byte, bool) {
	start, i := d.i, d.i
	digits := func() bool {
		j := i
		for i < len(d.data) && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(d.data) && d.data[i] == '-' {
		i++
	}
	if i < len(d.data) && d.data[i] == '0' {
		i++
	} else if !digits() {
		return nil, false
	}
	if i < len(d.data) && d.data[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	d.i = i
	return d.data[start:i], true
}

// int64 reads an integer that fits int64, as strconv.ParseInt reads it
// (encoding/json refuses a fraction or exponent for an integer field).
func (d *eventDecoder) int64(v *int64) bool {
	text, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	*v = n
	return err == nil
}

func (d *eventDecoder) int(v *int) bool {
	var n int64
	ok := d.int64(&n) && int64(int(n)) == n
	*v = int(n)
	return ok
}

func (d *eventDecoder) uint(v *uint64) bool {
	text, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(string(text), 10, 64)
	*v = n
	return err == nil
}

func (d *eventDecoder) bool(v *bool) bool {
	switch {
	case d.literal("true"):
		*v = true
	case d.literal("false"):
		*v = false
	default:
		return false
	}
	return true
}

// literal moves past lit if the input continues with it.
func (d *eventDecoder) literal(lit string) bool {
	if !bytes.HasPrefix(d.data[d.i:], []byte(lit)) {
		return false
	}
	d.i += len(lit)
	return true
}

// time reads a JSON string with time.Time.UnmarshalJSON, which is what
// encoding/json calls (with the string still quoted and escaped).
func (d *eventDecoder) time(t *time.Time) bool {
	start := d.i
	end, _, ok := d.scanString()
	return ok && t.UnmarshalJSON(d.data[start:end]) == nil
}

// skip checks and moves past any JSON value (of an unknown key).
func (d *eventDecoder) skip(depth int) bool {
	if d.i >= len(d.data) || depth > maxSkipDepth {
		return false
	}
	switch c := d.data[d.i]; {
	case c == '"':
		_, _, ok := d.scanString()
		return ok
	case c == '{':
		return d.object(nil, func(int) bool { return d.skip(depth + 1) })
	case c == '[':
		var none []struct{}
		return array(d, &none, func(*struct{}) bool { return d.skip(depth + 1) })
	case c == '-' || '0' <= c && c <= '9':
		_, ok := d.number()
		return ok
	}
	return d.literal("true") || d.literal("false") || d.literal("null")
}
