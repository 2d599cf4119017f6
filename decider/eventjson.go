package decider

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEventJSON appends the JSON object of ev, exactly as encoding/json
// would decode it back (same fields, same omitempty rules), without
// reflection: events are encoded on the callback path, once per callback.
// TestAppendEventMatchesEncodingJSON and FuzzAppendEvent hold it to that.
func appendEventJSON(b []byte, ev *Event) []byte {
	b = append(b, `{"schema":`...)
	b = strconv.AppendInt(b, int64(ev.Schema), 10)
	b = appendField(b, "id", ev.ID)
	b = appendField(b, "kind", ev.Kind)
	b = appendField(b, "app", ev.App)
	b = appendField(b, "command", ev.Command)
	b = appendField(b, "group_id", ev.GroupID)
	b = appendField(b, "group_type", ev.GroupType)
	b = appendField(b, "operator", ev.Operator)
	b = append(b, `,"members":`...)
	b = appendStrings(b, ev.Members)
	if ev.Outcome != "" {
		b = appendField(b, "outcome", string(ev.Outcome))
	}
	if len(ev.Refused) > 0 {
		b = append(b, `,"refused":[`...)
		for i, r := range ev.Refused {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"member":`...)
			b = AppendJSONString(b, r.Member)
			b = appendField(b, "rule", r.Rule)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"error_code":`...)
	b = strconv.AppendInt(b, int64(ev.ErrorCode), 10)
	b = appendOptional(b, "error_info", ev.ErrorInfo)
	b = appendOptional(b, "reject_rule", ev.RejectRule)
	if len(ev.Shadow) > 0 {
		b = append(b, `,"shadow":[`...)
		for i, s := range ev.Shadow {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = AppendJSONString(b, s.Rule)
			b = appendField(b, "kind", s.Kind)
			if len(s.Members) > 0 {
				b = append(b, `,"members":`...)
				b = appendStrings(b, s.Members)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"policy_revision":`...)
	b = strconv.AppendUint(b, ev.PolicyRevision, 10)
	b = append(b, `,"fail_mode":`...)
	b = strconv.AppendBool(b, ev.FailMode)
	if len(ev.Stats) > 0 {
		b = appendStatReads(b, "stats", ev.Stats)
	}
	if len(ev.StatsUnread) > 0 {
		b = appendStatReads(b, "stats_unread", ev.StatsUnread)
	}
	if len(ev.StatsKnown) > 0 {
		b = append(b, `,"stats_known":`...)
		b = appendStrings(b, ev.StatsKnown)
	}
	b = appendOptional(b, "change_type", ev.ChangeType)
	b = appendOptional(b, "platform", ev.Platform)
	b = appendOptional(b, "client_ip", ev.ClientIP)
	if ev.EventTime != nil && EncodableTime(*ev.EventTime) {
		b = appendTime(b, "event_time", *ev.EventTime)
	}
	b = appendTime(b, "received_at", ev.ReceivedAt)
	b = appendTime(b, "decided_at", ev.DecidedAt)
	b = appendOptional(b, "limit", ev.Limit)
	return append(b, '}')
}

func appendStatReads(b []byte, name string, reads []StatRead) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":[`...)
	for i, r := range reads {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"stat":`...)
		b = AppendJSONString(b, r.Stat)
		b = appendField(b, "key", r.Key)
		b = append(b, `,"value":`...)
		b = strconv.AppendInt(b, r.Value, 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return AppendJSONString(b, v)
}

func appendOptional(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendField(b, name, v)
}

func appendTime(b []byte, name string, t time.Time) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendStrings(b []byte, xs []string) []byte {
	if xs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, x)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string exactly as encoding/json
// encodes it: HTML-safe (<, >, & escaped), invalid UTF-8 replaced by
// \ufffd, U+2028 and U+2029 escaped.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
