package ingress

import (
	"fmt"
	"strconv"
	"strings"
)

// body is what the ingress reads from a callback body. Its semantics, which
// the fuzz test checks against encoding/json:
//   - the body is one JSON object, valid as encoding/json accepts it;
//   - keys match exactly (case-sensitive, after unescaping); unknown keys are
//     skipped (but must be valid JSON); a repeated key's last value wins;
//   - null means absent; a value of the wrong type is an error even when a
//     later repetition of the key would be right;
//   - the member list is an array of objects, each with a string
//     Member_Account (other keys skipped);
//   - EventTime is a JSON integer or a string of decimal digits, in
//     milliseconds, that fits an int64.
//
// The work is linear in the body whatever its shape: every byte is scanned
// once, a repeated member list reuses the previous one's slice (its value
// is discarded), and the slice is sized once from a bound (what the rest
// of the body can hold, at most the member cap). Past the cap members are
// still checked but not kept: tooMany reports it.
type body struct {
	command, groupID, groupType, operator, changeType string
	members                                           []string // at most the cap
	eventTimeMs                                       int64

	hasCommand, hasMembers bool
	tooMany                bool // the member list held more than the cap
}

// bodySpec names the command-specific keys of a body.
type bodySpec struct {
	listKey   string // DestinationMembers, NewMemberList or ExitMemberList
	changeKey string // JoinType or ExitType; "" for invites
}

var (
	inviteSpec = bodySpec{listKey: "DestinationMembers"}
	joinSpec   = bodySpec{listKey: "NewMemberList", changeKey: "JoinType"}
	exitSpec   = bodySpec{listKey: "ExitMemberList", changeKey: "ExitType"}
)

// bodyError is a rejected body: reason labels the metric, msg is ErrorInfo.
type bodyError struct {
	reason string
	msg    string
}

func (e *bodyError) Error() string { return e.msg }

// noCap is the member cap of parseBody: none.
const noCap = int(^uint(0) >> 1)

// parseBody parses s per spec without a member cap. Strings in the result
// share s's memory.
func parseBody(s string, spec bodySpec) (body, error) { return parseBodyCapped(s, spec, noCap) }

// parseBodyCapped parses s per spec, keeping at most maxMembers members.
func parseBodyCapped(s string, spec bodySpec, maxMembers int) (body, error) {
	var b body
	p := scanner{s: s, maxMembers: maxMembers}
	switch p.peek() {
	case 0:
		if p.i >= len(s) {
			return b, &bodyError{reason: reasonMalformedJSON, msg: "malformed JSON: empty body"}
		}
	case '{':
	default:
		if err := p.skipValue(0); err != nil {
			return b, err
		}
		return b, &bodyError{reason: reasonNotObject, msg: "body is not a JSON object"}
	}
	if err := p.expect('{', "'{'"); err != nil {
		return b, err
	}
	if p.peek() == '}' {
		p.i++
	} else if err := p.fields(&b, spec); err != nil {
		return b, err
	}
	if p.peek() != 0 || p.i < len(s) {
		return b, p.syntaxErr("end of body after the JSON object")
	}
	return b, nil
}

// fields reads the members of the top-level object up to its closing brace.
func (p *scanner) fields(b *body, spec bodySpec) error {
	for {
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':', "':' after object key"); err != nil {
			return err
		}
		if err := p.field(b, spec, key); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.syntaxErr("',' or '}' after object member")
		}
	}
}

func (p *scanner) field(b *body, spec bodySpec, key string) error {
	var err error
	switch {
	case key == "CallbackCommand":
		b.command, b.hasCommand, err = p.optString(key)
	case key == "GroupId":
		b.groupID, _, err = p.optString(key)
	case key == "Type":
		b.groupType, _, err = p.optString(key)
	case key == "Operator_Account":
		b.operator, _, err = p.optString(key)
	case key == "EventTime":
		b.eventTimeMs, err = p.eventTime()
	case key == spec.listKey:
		b.members, b.hasMembers, b.tooMany, err = p.memberList(key, b.members)
	case spec.changeKey != "" && key == spec.changeKey:
		b.changeType, _, err = p.optString(key)
	default:
		err = p.skipValue(1)
	}
	return err
}

// optString reads a string or null (reported as absent).
func (p *scanner) optString(key string) (string, bool, error) {
	if p.null() {
		return "", false, nil
	}
	if p.peek() != '"' {
		return "", false, p.typeErr(1, reasonFieldType, key, "a string")
	}
	v, err := p.str()
	return v, err == nil, err
}

// typeErr skips the offending value (at the given container depth), so that
// a syntax error inside it is reported first, and returns a type error.
func (p *scanner) typeErr(depth int, reason, key, want string) error {
	if err := p.skipValue(depth); err != nil {
		return err
	}
	return &bodyError{reason: reason, msg: fmt.Sprintf("%s must be %s", key, want)}
}

// eventTime reads EventTime: null (0), an integer, or a string of digits.
func (p *scanner) eventTime() (int64, error) {
	var text string
	switch c := p.peek(); {
	case p.null():
		return 0, nil
	case c == '"':
		s, err := p.str()
		if err != nil {
			return 0, err
		}
		text = s
	case c == '-' || isDigit(c):
		n, err := p.number()
		if err != nil {
			return 0, err
		}
		text = n
	default:
		return 0, p.typeErr(1, reasonBadEventTime, "EventTime", "a number or a numeric string")
	}
	ms, ok := parseMillis(text)
	if !ok {
		return 0, &bodyError{reason: reasonBadEventTime, msg: fmt.Sprintf("EventTime %q is not a non-negative integer of milliseconds", text)}
	}
	return ms, nil
}

// parseMillis accepts 1 to 19 decimal digits that fit an int64.
func parseMillis(s string) (int64, bool) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	return ms, err == nil
}

// minMemberBytes is the fewest bytes a member takes in a list:
// {"Member_Account":""} and a comma.
const minMemberBytes = len(`{"Member_Account":""}`) + 1

// memberList reads an array of {"Member_Account": "..."} objects, or null,
// keeping the first p.maxMembers. reuse is the slice of a previous value of
// the same key (discarded: the last value wins), whose memory it reuses.
func (p *scanner) memberList(key string, reuse []string) (members []string, present, tooMany bool, err error) {
	if p.null() {
		return nil, false, false, nil
	}
	if p.peek() != '[' {
		return nil, false, false, p.typeErr(1, reasonBadMembers, key, "an array of objects")
	}
	p.i++
	members = reuse[:0]
	if members == nil {
		members = []string{}
	}
	if p.peek() == ']' {
		p.i++
		return members, true, false, nil
	}
	for n := 0; ; n++ {
		m, err := p.member(key, n)
		if err != nil {
			return nil, false, false, err
		}
		switch {
		case n >= p.maxMembers:
			tooMany = true
		case cap(members) == 0:
			// One allocation, bounded by what the rest of the body can
			// hold and by the cap (never a scan ahead: that would be
			// repeated for every repetition of the key).
			members = make([]string, 0, min((len(p.s)-p.i)/minMemberBytes+1, p.maxMembers))
			fallthrough
		default:
			members = append(members, m)
		}
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return members, true, tooMany, nil
		default:
			return nil, false, false, p.syntaxErr("',' or ']' after array element")
		}
	}
}

// member reads one element of a member list: an object whose string
// Member_Account is returned.
func (p *scanner) member(key string, idx int) (string, error) {
	if p.peek() != '{' {
		return "", p.typeErr(2, reasonBadMembers, fmt.Sprintf("%s[%d]", key, idx), "an object")
	}
	p.i++
	var account string
	has := false
	if p.peek() == '}' {
		p.i++
	} else {
		for done := false; !done; {
			k, err := p.key()
			if err != nil {
				return "", err
			}
			if err := p.expect(':', "':' after object key"); err != nil {
				return "", err
			}
			if k == "Member_Account" {
				account, has, err = p.memberAccount(key, idx)
			} else {
				err = p.skipValue(3)
			}
			if err != nil {
				return "", err
			}
			switch p.peek() {
			case ',':
				p.i++
			case '}':
				p.i++
				done = true
			default:
				return "", p.syntaxErr("',' or '}' after object member")
			}
		}
	}
	if !has {
		return "", &bodyError{reason: reasonBadMembers, msg: fmt.Sprintf("%s[%d] has no string Member_Account", key, idx)}
	}
	return account, nil
}

// memberAccount reads the value of Member_Account: a string, or null (absent).
func (p *scanner) memberAccount(key string, idx int) (string, bool, error) {
	if p.null() {
		return "", false, nil
	}
	if p.peek() != '"' {
		return "", false, p.typeErr(3, reasonBadMembers, fmt.Sprintf("%s[%d].Member_Account", key, idx), "a string")
	}
	v, err := p.str()
	return v, err == nil, err
}

// memberKey is the key of every member object as IM writes it.
const memberKey = `"Member_Account"`

// key reads an object key, recognising memberKey without scanning it.
func (p *scanner) key() (string, error) {
	p.ws()
	if strings.HasPrefix(p.s[p.i:], memberKey) {
		p.i += len(memberKey)
		return memberKey[1 : len(memberKey)-1], nil
	}
	return p.str()
}
