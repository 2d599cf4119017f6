package ingress

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/invitegate/invitegate/ingress/ingresstest"
	"github.com/stretchr/testify/require"
)

func TestParseBodySeedSample(t *testing.T) {
	t.Parallel()
	b, err := parseBody(seedSample, inviteSpec)
	require.NoError(t, err)
	require.Equal(t, body{
		command: "Group.CallbackBeforeInviteJoinGroup", hasCommand: true,
		groupID: "@TGS#2J4SZEAEL", groupType: "Public", operator: "leckie",
		members: []string{"jared", "leckie"}, hasMembers: true, eventTimeMs: 1670574414123,
	}, b)
	requireParseLikeJSON(t, []byte(seedSample), inviteSpec)
}

func TestParseBodySemantics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want body
	}{
		{"unknown fields of every kind are skipped",
			`{"X":{"a":[1,-2.5e+3,true,false,null,{"b":"\u00e9"}],"c":{}},"Y":[],"GroupId":"g","Z":"\"\\\/\b\f\n\r\t"}`,
			body{groupID: "g"}},
		{"last repeated key wins", `{"GroupId":"a","GroupId":"b","Type":"T","Type":null}`, body{groupID: "b"}},
		{"keys are case-sensitive", `{"groupid":"a","GROUPID":"b"}`, body{}},
		{"escaped key matches", `{"Group\u0049d":"g"}`, body{groupID: "g"}},
		{"escapes and UTF-8 in values", `{"Operator_Account":"\u65e5\u672c-\ud83d\ude00-x\"y","Type":"Café"}`,
			body{operator: "日本-😀-x\"y", groupType: "Café"}},
		{"invalid UTF-8 becomes U+FFFD", "{\"GroupId\":\"a\xffb\"}", body{groupID: "a\ufffdb"}},
		{"lone surrogate becomes U+FFFD", `{"GroupId":"a\ud800b"}`, body{groupID: "a\ufffdb"}},
		{"members with extra keys", `{"DestinationMembers":[{"x":1,"Member_Account":"m1","y":[{}]},{"Member_Account":"m2"}]}`,
			body{members: []string{"m1", "m2"}, hasMembers: true}},
		{"null Member_Account then a string", `{"DestinationMembers":[{"Member_Account":null,"Member_Account":"m"}]}`,
			body{members: []string{"m"}, hasMembers: true}},
		{"empty members", `{"DestinationMembers":[]}`, body{members: []string{}, hasMembers: true}},
		{"null members is absent", `{"DestinationMembers":null}`, body{}},
		{"other list keys are skipped for invites", `{"NewMemberList":5,"JoinType":7}`, body{}},
		{"whitespace everywhere", " \t\r\n{ \"GroupId\" : \"g\" , \"EventTime\" : 12 } \n", body{groupID: "g", eventTimeMs: 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseBody(tt.in, inviteSpec)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			requireParseLikeJSON(t, []byte(tt.in), inviteSpec)
		})
	}
}

func TestParseBodyMembershipSpecs(t *testing.T) {
	t.Parallel()
	in := `{"GroupId":"g","JoinType":"Invited","ExitType":"Kicked","NewMemberList":[{"Member_Account":"a"}],"ExitMemberList":[{"Member_Account":"b"}],"DestinationMembers":"skipped"}`
	join, err := parseBody(in, joinSpec)
	require.NoError(t, err)
	require.Equal(t, body{groupID: "g", changeType: "Invited", members: []string{"a"}, hasMembers: true}, join)
	exit, err := parseBody(in, exitSpec)
	require.NoError(t, err)
	require.Equal(t, body{groupID: "g", changeType: "Kicked", members: []string{"b"}, hasMembers: true}, exit)
}

func TestParseBodySyntaxErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`{"GroupId":"g",}`:    `malformed JSON: expected string at byte 15, found '}'`,
		`{"GroupId" "g"}`:     `malformed JSON: expected ':' after object key at byte 11, found '"'`,
		`{"X":[1,]}`:          `malformed JSON: expected value at byte 8, found ']'`,
		`{"X":01}`:            `malformed JSON: expected ',' or '}' after object member at byte 6, found '1'`,
		`{"X":1.}`:            `malformed JSON: expected digit after decimal point at byte 7, found '}'`,
		`{"X":1e}`:            `malformed JSON: expected digit in exponent at byte 7, found '}'`,
		`{"X":tru}`:           `malformed JSON: expected value at byte 5, found 't'`,
		`{"X":"\x"}`:          `malformed JSON: expected valid escape character at byte 7, found 'x'`,
		`{"X":"\u12"}`:        `malformed JSON: expected hex digit in \u escape at byte 10, found '"'`,
		"{\"X\":\"a\nb\"}":    `malformed JSON: control character '\n' in string at byte 7`,
		`{"X":[1 2]}`:         `malformed JSON: expected ',' or ']' after array element at byte 8, found '2'`,
		`{"X":{"a":1 "b":2}}`: `malformed JSON: expected ',' or '}' after object member at byte 12, found '"'`,
		`{"DestinationMembers":[{"Member_Account":"a"} {}]}`: `malformed JSON: expected ',' or ']' after array element at byte 46, found '{'`,
		`{"GroupId":"g"`:    `malformed JSON: unexpected end of body, expected ',' or '}' after object member`,
		"\ufeff{}":          `malformed JSON: expected value at byte 0, found 'ï'`,
		`{"GroupId":"g"} x`: `malformed JSON: expected end of body after the JSON object at byte 16, found 'x'`,
	}
	for in, msg := range tests {
		_, err := parseBody(in, inviteSpec)
		require.EqualError(t, err, msg, in)
		var be *bodyError
		require.ErrorAs(t, err, &be)
		requireParseLikeJSON(t, []byte(in), inviteSpec)
	}
}

// TestParseBodyNestingLimit checks the limit encoding/json enforces, at its
// boundary, in skipped values and in a non-object member.
func TestParseBodyNestingLimit(t *testing.T) {
	t.Parallel()
	nest := func(depth int) string { // an object holding arrays to the given total depth
		return `{"X":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
	}
	for _, depth := range []int{maxNestingDepth - 1, maxNestingDepth, maxNestingDepth + 1} {
		in := nest(depth)
		_, err := parseBody(in, inviteSpec)
		require.Equal(t, json.Valid([]byte(in)), err == nil, "depth %d: %v", depth, err)
		requireParseLikeJSON(t, []byte(in), inviteSpec)
		member := `{"DestinationMembers":[` + strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2) + `]}`
		requireParseLikeJSON(t, []byte(member), inviteSpec)
	}
	_, err := parseBody(nest(maxNestingDepth+1), inviteSpec)
	require.ErrorContains(t, err, "nesting deeper than 10000")
}

// FuzzParseBody checks parseBody against encoding/json (refParse): the same
// bodies are accepted, with the same fields, and with a member cap the same
// first members. Its seed corpus is in testdata/fuzz/FuzzParseBody (the
// seed's sample and variants, and the hostile bodies at 64 KiB), plus the
// hostile bodies at the default --max-body-bytes; kind picks the command
// (0 invite, 1 join, 2 exit) and the cap.
func FuzzParseBody(f *testing.F) {
	for _, hb := range ingresstest.Bodies(DefaultMaxBodyBytes) {
		f.Add(hb.Data, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, kind uint8) {
		spec := []bodySpec{inviteSpec, joinSpec, exitSpec}[int(kind)%3]
		requireParseLikeJSON(t, data, spec)
		requireCapLikeJSON(t, data, spec, int(kind/3)%4)
	})
}

// requireCapLikeJSON checks the capped parse: the first maxMembers members
// of refParse, and tooMany when there were more.
func requireCapLikeJSON(t *testing.T, data []byte, spec bodySpec, maxMembers int) {
	t.Helper()
	if maxMembers == 0 {
		return
	}
	got, err := parseBodyCapped(string(data), spec, maxMembers)
	want, ok := refParse(data, spec)
	require.Equal(t, ok, err == nil, "accept/reject differ for %q with cap %d: %v", data, maxMembers, err)
	if err != nil {
		return
	}
	require.Equal(t, len(want.members) > maxMembers, got.tooMany)
	if got.tooMany {
		want.members = want.members[:maxMembers]
	}
	got.tooMany = false
	require.Equal(t, want, got, "%q with cap %d", data, maxMembers)
}

// TestParseBodyCap: past the cap members are checked but not kept; a
// repeated key's last value wins, cap and all.
func TestParseBodyCap(t *testing.T) {
	t.Parallel()
	in := `{"DestinationMembers":[{"Member_Account":"a"},{"Member_Account":"b"},{"Member_Account":"c"}]}`
	b, err := parseBodyCapped(in, inviteSpec, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, b.members)
	require.True(t, b.tooMany)
	b, err = parseBodyCapped(in+` `, inviteSpec, 3)
	require.NoError(t, err)
	require.False(t, b.tooMany)
	_, err = parseBodyCapped(`{"DestinationMembers":[{"Member_Account":"a"},{"Member_Account":"b"},{"X":1}]}`, inviteSpec, 1)
	require.ErrorContains(t, err, "DestinationMembers[2] has no string Member_Account")
	b, err = parseBodyCapped(`{"DestinationMembers":[{"Member_Account":"a"},{"Member_Account":"b"}],"DestinationMembers":[{"Member_Account":"c"}]}`, inviteSpec, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, b.members)
	require.False(t, b.tooMany)
	for _, cap := range []int{1, 2, 3, 5} {
		for _, hb := range ingresstest.Bodies(64 << 10) {
			requireCapLikeJSON(t, hb.Data, inviteSpec, cap)
		}
	}
}

// TestParseBodyRepeatedKeysAllocateOnce: however often the member list
// repeats, its slice is allocated once, sized by what the body can hold.
func TestParseBodyRepeatedKeysAllocateOnce(t *testing.T) {
	for _, unit := range []string{`"DestinationMembers":[],`, `"DestinationMembers":[{"Member_Account":"a"}],`} {
		in := `{` + strings.Repeat(unit, 4000) + `"X":"` + strings.Repeat("{", 200_000) + `"}`
		allocs := testing.AllocsPerRun(3, func() {
			if _, err := parseBody(in, inviteSpec); err != nil {
				t.Fatal(err)
			}
		})
		require.LessOrEqual(t, allocs, 1.0, unit)
	}
}

// TestUnquoteLikeJSON: escapes, surrogate pairs, lone surrogates and
// invalid UTF-8 decode as encoding/json decodes them.
func TestUnquoteLikeJSON(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`"a\u00e9\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`,
		`"\ud83d\ud83d\ude00"`, "\"\xff\xfe ok\"", `"\"\\\/\b\f\n\r\t"`, `"\u0000"`, `"\uD83D\uDE00"`,
	} {
		raw = strings.ReplaceAll(raw, `\\`, `\`)
		var want string
		require.NoError(t, json.Unmarshal([]byte(raw), &want), raw)
		p := scanner{s: raw}
		got, err := p.str()
		require.NoError(t, err, raw)
		require.Equal(t, want, got, raw)
	}
}

func requireParseLikeJSON(t *testing.T, data []byte, spec bodySpec) {
	t.Helper()
	got, err := parseBody(string(data), spec)
	want, ok := refParse(data, spec)
	require.Equal(t, ok, err == nil, "accept/reject differ for %q: parseBody error %v", data, err)
	if err != nil {
		var be *bodyError
		require.ErrorAs(t, err, &be)
		require.Contains(t, answeredReasons, be.reason)
		require.NotEmpty(t, be.msg)
		return
	}
	require.Equal(t, want, got, "%q", data)
}

var (
	digitsRE = regexp.MustCompile(`^[0-9]+$`)
)

// refParse is the reference for parseBody, written with encoding/json's
// tokenizer and the semantics documented on body.
func refParse(data []byte, spec bodySpec) (body, bool) {
	var b body
	if !json.Valid(data) {
		return b, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return b, false
	}
	for dec.More() {
		tok, _ := dec.Token()
		key := tok.(string)
		ok := true
		switch {
		case key == "CallbackCommand":
			b.command, b.hasCommand, ok = refString(dec)
		case key == "GroupId":
			b.groupID, _, ok = refString(dec)
		case key == "Type":
			b.groupType, _, ok = refString(dec)
		case key == "Operator_Account":
			b.operator, _, ok = refString(dec)
		case spec.changeKey != "" && key == spec.changeKey:
			b.changeType, _, ok = refString(dec)
		case key == "EventTime":
			b.eventTimeMs, ok = refEventTime(dec)
		case key == spec.listKey:
			b.members, b.hasMembers, ok = refMembers(dec)
		default:
			var raw json.RawMessage
			ok = dec.Decode(&raw) == nil
		}
		if !ok {
			return body{}, false
		}
	}
	return b, true
}

// refString reads a string (value, true) or null ("", false); ok is false
// for any other value.
func refString(dec *json.Decoder) (v string, present, ok bool) {
	tok, _ := dec.Token()
	switch s := tok.(type) {
	case nil:
		return "", false, true
	case string:
		return s, true, true
	}
	return "", false, false
}

func refEventTime(dec *json.Decoder) (int64, bool) {
	tok, _ := dec.Token()
	var text string
	switch v := tok.(type) {
	case nil:
		return 0, true
	case string:
		text = v
	case json.Number:
		text = v.String()
	default:
		return 0, false
	}
	if !digitsRE.MatchString(text) {
		return 0, false
	}
	ms, err := strconv.ParseInt(text, 10, 64)
	return ms, err == nil
}

func refMembers(dec *json.Decoder) ([]string, bool, bool) {
	tok, _ := dec.Token()
	if tok == nil {
		return nil, false, true
	}
	if tok != json.Delim('[') {
		return nil, false, false
	}
	members := []string{}
	for dec.More() {
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			return nil, false, false
		}
		account, has := "", false
		for dec.More() {
			k, _ := dec.Token()
			if k != "Member_Account" {
				var raw json.RawMessage
				if dec.Decode(&raw) != nil {
					return nil, false, false
				}
				continue
			}
			var ok bool
			if account, has, ok = refString(dec); !ok {
				return nil, false, false
			}
		}
		_, _ = dec.Token() // '}'
		if !has {
			return nil, false, false
		}
		members = append(members, account)
	}
	_, _ = dec.Token() // ']'
	return slices.Clip(members), true, true
}
