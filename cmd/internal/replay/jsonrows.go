package replay

import (
	"encoding/json"
	"strconv"

	"github.com/invitegate/invitegate/decider"
)

// The jsonb columns a replay reads (refused, stats, stats_unread) are
// arrays of flat objects of strings and integers, which PostgreSQL prints
// in one canonical form. flatObjects reads that form without reflection,
// with strings sharing the batch's bytes; anything else (an escape, a
// nested value, a fraction) makes it give up, and encoding/json decodes
// the value instead.

// flatObjects appends to dst one T per object of the array in b, setting
// its fields with set(t, key, string value, integer value, isString).
func flatObjects[T any](b []byte, dst []T, set func(t *T, key, s string, n int64, isString bool) bool) ([]T, bool) {
	p := flatParser{b: b}
	if !p.byte('[') {
		return dst, false
	}
	if p.byte(']') {
		return dst, p.end()
	}
	for {
		if !p.byte('{') {
			return dst, false
		}
		dst = append(dst, *new(T))
		t := &dst[len(dst)-1]
		for {
			key, ok := p.str()
			if !ok || !p.byte(':') {
				return dst, false
			}
			p.space()
			if p.i < len(p.b) && p.b[p.i] == '"' {
				s, ok := p.str()
				if !ok || !set(t, key, s, 0, true) {
					return dst, false
				}
			} else {
				n, ok := p.int()
				if !ok || !set(t, key, "", n, false) {
					return dst, false
				}
			}
			if p.byte('}') {
				break
			}
			if !p.byte(',') {
				return dst, false
			}
		}
		if p.byte(']') {
			return dst, p.end()
		}
		if !p.byte(',') {
			return dst, false
		}
	}
}

type flatParser struct {
	b []byte
	i int
}

func (p *flatParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *flatParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *flatParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// str reads a string without escapes (PostgreSQL escapes only '"', '\'
// and control characters).
func (p *flatParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := bytesString(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\' || c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

func (p *flatParser) int() (int64, bool) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.ParseInt(bytesString(p.b[start:p.i]), 10, 64)
	return n, err == nil
}

func setRefusal(r *decider.Refusal, key, s string, _ int64, isString bool) bool {
	switch {
	case !isString:
		return false
	case key == "member":
		r.Member = s
	case key == "rule":
		r.Rule = s
	}
	return true
}

func setStatRead(r *decider.StatRead, key, s string, n int64, isString bool) bool {
	switch key {
	case "stat":
		r.Stat = s
		return isString
	case "key":
		r.Key = s
		return isString
	case "value":
		r.Value = n
		return !isString
	}
	return true
}

// decodeRefusals decodes the refused column into dst[:0].
func decodeRefusals(b []byte, dst []decider.Refusal) ([]decider.Refusal, error) {
	if out, ok := flatObjects(b, dst[:0], setRefusal); ok {
		return out, nil
	}
	out := dst[:0]
	return out, json.Unmarshal(b, &out)
}

// decodeStatReads decodes a stats column into dst[:0].
func decodeStatReads(b []byte, dst []decider.StatRead) ([]decider.StatRead, error) {
	if out, ok := flatObjects(b, dst[:0], setStatRead); ok {
		return out, nil
	}
	out := dst[:0]
	return out, json.Unmarshal(b, &out)
}
