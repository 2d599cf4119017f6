package decider

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// decodeReference is what DecodeEvent must return: encoding/json, then the
// event checks.
func decodeReference(line []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return ev, err
	}
	return ev, ev.validate()
}

// requireSameDecoding checks that DecodeEvent returns what encoding/json
// does for line: the same error text, the same Event. It reports whether
// the hand-written decoder took the line itself.
func requireSameDecoding(t *testing.T, line []byte) (fast bool) {
	t.Helper()
	want, wantErr := decodeReference(line)
	got, gotErr := DecodeEvent(line)
	if wantErr != nil {
		require.EqualError(t, gotErr, wantErr.Error(), "input %q", line)
	} else {
		require.NoError(t, gotErr, "input %q", line)
	}
	requireSameEvent(t, want, got, "input %q", line)
	var ev Event
	return decodeEventFast(line, &ev)
}

// requireSameEvent compares events field by field; times by instant, zone
// name and offset (time.Parse gives every offset a Location of its own,
// which reflect.DeepEqual would tell apart).
func requireSameEvent(t *testing.T, want, got Event, msgAndArgs ...any) {
	t.Helper()
	times := func(ev *Event) []*time.Time {
		ts := []*time.Time{&ev.ReceivedAt, &ev.DecidedAt}
		if ev.EventTime != nil {
			ts = append(ts, ev.EventTime)
		}
		return ts
	}
	require.Equal(t, want.EventTime == nil, got.EventTime == nil, msgAndArgs...)
	wt, gt := times(&want), times(&got)
	for i := range wt {
		wn, wo := wt[i].Zone()
		gn, gotOff := gt[i].Zone()
		require.True(t, wt[i].Equal(*gt[i]) && wn == gn && wo == gotOff, msgAndArgs...)
		*wt[i], *gt[i] = time.Time{}, time.Time{}
	}
	require.Equal(t, want, got, msgAndArgs...)
}

const canonicalLine = `{"schema":1,"id":"01938c3e-5a2b-7c4d-9e8f-0a1b2c3d4e5f","kind":"invite","app":"1400000000",` +
	`"command":"Group.CallbackBeforeInviteJoinGroup","group_id":"@TGS#2J4SZEAEL","group_type":"Public",` +
	`"operator":"leckie","members":["jared","leckie"],"outcome":"partial","refused":[{"member":"jared","rule":"banned"}],` +
	`"error_code":0,"shadow":[{"rule":"no-self","kind":"refuse_member","members":["leckie"]}],"policy_revision":1,` +
	`"fail_mode":false,"stats":[{"stat":"s","key":"k","value":-3}],"stats_unread":[{"stat":"u","key":"jared","value":7}],` +
	`"stats_known":["s","u"],"platform":"iOS","client_ip":"127.0.0.1",` +
	`"event_time":"2022-12-09T08:26:54.123Z","received_at":"2026-11-28T09:24:10.101234Z","decided_at":"2026-11-28T09:24:10.101240+08:00"}`

// line returns canonicalLine with old replaced by new (which must occur).
func line(t *testing.T, old, new string) []byte {
	t.Helper()
	require.Contains(t, canonicalLine, old)
	return []byte(strings.Replace(canonicalLine, old, new, 1))
}

func TestDecodeEventMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	sample := sampleEvent()
	encoded, err := AppendEvent(nil, &sample)
	require.NoError(t, err)
	cases := []struct {
		name  string
		input []byte
		fast  bool // taken by the hand-written decoder, not handed to encoding/json
	}{
		{"canonical", []byte(canonicalLine), true},
		{"AppendEvent's output, escapes and invalid UTF-8", encoded, true},
		{"white space everywhere", []byte(" \t\r\n" + strings.ReplaceAll(strings.ReplaceAll(canonicalLine, `,"`, " ,\n\""), `":`, "\"\t: ") + "\r\n"), true},
		{"keys in another order", line(t, `{"schema":1,"id":"01938c3e-5a2b-7c4d-9e8f-0a1b2c3d4e5f",`, `{"id":"01938c3e-5a2b-7c4d-9e8f-0a1b2c3d4e5f","schema":1,`), true},
		{"unknown keys of every type", line(t, `"kind":"invite",`, `"kind":"invite","x":{"a":[1,-2.5e+3,true,false,null,{"b":"\u00e9"}],"a":{}},"y":[],"z":"q\"",`), true},
		{"unknown keys in nested objects", line(t, `{"member":"jared",`, `{"extra":[[]],"member":"jared",`), true},
		{"escapes", line(t, `"leckie","members"`, `"l\"\\\/\b\f\n\r\t\u00e9\u4E2D\ud83d\ude00","members"`), true},
		{"escaped key", line(t, `"group_type"`, `"group\u005ftype"`), true},
		{"raw UTF-8", line(t, `"operator":"leckie"`, `"operator":"李雷 😀"`), true},
		{"invalid UTF-8 becomes U+FFFD", line(t, `"jared","leckie"`, "\"ja\xffred\xc3\",\"\xed\xa0\x80\""), true},
		{"lone and reversed surrogates become U+FFFD", line(t, `"jared","leckie"`, `"\ud800","\udc00\ud800","\ud83dx","\ud83d\u0041"`), true},
		{"empty arrays are empty slices", line(t, `"members":["jared","leckie"]`, `"members":[]`), true},
		{"empty refused and shadow member lists", line(t, `"members":["leckie"]}`, `"members":[]}`), true},
		{"negative zero", line(t, `"error_code":0,`, `"error_code":-0,`), true},
		{"largest revision", line(t, `"policy_revision":1`, `"policy_revision":18446744073709551615`), true},
		{"largest error code", line(t, `"error_code":0`, `"error_code":-9223372036854775808`), true},
		{"minimal event", []byte(`{"schema":1,"id":"x","kind":"member_joined","app":"a","received_at":"2026-01-01T00:00:00Z"}`), true},
		{"a time with a zone offset", line(t, `"2022-12-09T08:26:54.123Z"`, `"2022-12-09T08:26:54.123-05:30"`), true},

		// Valid JSON that encoding/json decodes, and the fast path leaves to it.
		{"null members", line(t, `["jared","leckie"]`, `null`), false},
		{"null element", line(t, `["jared","leckie"]`, `[null,"x"]`), false},
		{"null refusal", line(t, `[{"member":"jared","rule":"banned"}]`, `[null]`), false},
		{"null time keeps zero", line(t, `"received_at":"2026-11-28T09:24:10.101234Z"`, `"received_at":null`), false},
		{"null event time", line(t, `"2022-12-09T08:26:54.123Z"`, `null`), false},
		{"repeated key, last wins", line(t, `"app":"1400000000",`, `"app":"1400000000","app":"other",`), false},
		{"repeated nested key", line(t, `"rule":"banned"`, `"rule":"banned","member":"x"`), false},
		{"case-insensitive key", line(t, `"operator"`, `"OPERATOR"`), false},
		{"Unicode case folding (long s, Kelvin sign)", line(t, `"kind":"invite","app"`, "\"kind\":\"invite\",\"\u212Aind\":\"x\",\"\u017Fchema\":1,\"app\""), false},
		{"deep unknown value", line(t, `"kind":"invite",`, `"kind":"invite","deep":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`,`), false},
		{"escaped time", line(t, `"2022-12-09T08:26:54.123Z"`, `"2022-12-09T08:26:54\u002e123Z"`), false},

		// Invalid: every error must be encoding/json's.
		{"empty", []byte(``), false},
		{"not an object", []byte(`[1]`), false},
		{"null", []byte(`null`), false},
		{"truncated", []byte(canonicalLine[:len(canonicalLine)/2]), false},
		{"trailing data", []byte(canonicalLine + "x"), false},
		{"two objects", []byte(canonicalLine + canonicalLine), false},
		{"trailing comma", line(t, `"decided_at":"2026-11-28T09:24:10.101240+08:00"}`, `"decided_at":"2026-11-28T09:24:10.101240+08:00",}`), false},
		{"trailing comma in array", line(t, `["jared","leckie"]`, `["jared",]`), false},
		{"missing colon", line(t, `"kind":`, `"kind" `), false},
		{"single quotes", line(t, `"kind":"invite"`, `'kind':"invite"`), false},
		{"control character in string", line(t, `"leckie","members"`, "\"lec\tkie\",\"members\""), false},
		{"bad escape", line(t, `"leckie","members"`, `"lec\'kie","members"`), false},
		{"short \\u escape", line(t, `"leckie","members"`, `"lec\u12","members"`), false},
		{"bad number", line(t, `"error_code":0`, `"error_code":01`), false},
		{"bad exponent", line(t, `"error_code":0`, `"error_code":1e`), false},
		{"fraction into an integer", line(t, `"error_code":0`, `"error_code":1.0`), false},
		{"exponent into an integer", line(t, `"error_code":0`, `"error_code":1e2`), false},
		{"integer overflow", line(t, `"error_code":0`, `"error_code":9223372036854775808`), false},
		{"negative revision", line(t, `"policy_revision":1`, `"policy_revision":-1`), false},
		{"revision overflow", line(t, `"policy_revision":1`, `"policy_revision":18446744073709551616`), false},
		{"string for a number", line(t, `"schema":1`, `"schema":"1"`), false},
		{"number for a string", line(t, `"app":"1400000000"`, `"app":1400000000`), false},
		{"string for a bool", line(t, `"fail_mode":false`, `"fail_mode":"false"`), false},
		{"misspelled literal", line(t, `"fail_mode":false`, `"fail_mode":fals`), false},
		{"bad literal in unknown value", line(t, `"kind":"invite",`, `"kind":"invite","x":nul,`), false},
		{"bad time", line(t, `"2026-11-28T09:24:10.101234Z"`, `"2026-11-28 09:24:10Z"`), false},
		{"time not a string", line(t, `"2026-11-28T09:24:10.101234Z"`, `1764322000`), false},
		{"type error then time error", line(t, `"schema":1`, `"schema":"x","received_at":"bad"`), false},
		{"object for members", line(t, `["jared","leckie"]`, `{"a":"b"}`), false},
		{"string for refused", line(t, `[{"member":"jared","rule":"banned"}]`, `"jared"`), false},

		// Valid JSON, invalid event (decider's checks).
		{"schema 2", line(t, `"schema":1`, `"schema":2`), true},
		{"schema 3", line(t, `"schema":1`, `"schema":3`), true},
		{"schema 0", line(t, `"schema":1`, `"schema":0`), true},
		{"no id", line(t, `"id":"01938c3e-5a2b-7c4d-9e8f-0a1b2c3d4e5f",`, ``), true},
		{"unknown kind", line(t, `"kind":"invite"`, `"kind":"other"`), true},
		{"no received_at", line(t, `,"received_at":"2026-11-28T09:24:10.101234Z"`, ``), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.fast, requireSameDecoding(t, tc.input), "hand-written decoder took it")
		})
	}
}

// FuzzDecodeEvent holds DecodeEvent to encoding/json on arbitrary bytes,
// and the decoder to the encoder: what decodes encodes (AppendEvent) to a
// line the hand-written decoder takes, and that decodes to the same event.
func FuzzDecodeEvent(f *testing.F) {
	sample := sampleEvent()
	encoded, err := AppendEvent(nil, &sample)
	require.NoError(f, err)
	f.Add(encoded)
	f.Add([]byte(canonicalLine))
	f.Add([]byte(`{"schema":1,"id":"x","kind":"invite","app":"a","received_at":"2026-01-01T00:00:00+01:00","Members":null}`))
	f.Add([]byte(`{"x":[{"y":"\ud83d\ude00\u00"}],"schema":1e0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		requireSameDecoding(t, data)
		var ev Event
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		again, err := AppendEvent(nil, &ev)
		if err != nil { // a year outside 0-9999, which RFC 3339 cannot write
			return
		}
		var back Event
		require.Equal(t, ev.Members != nil, decodeEventFast(again, &back), "the decoder takes what the encoder writes: %q", again)
		if ev.Members == nil {
			back = Event{}
			require.NoError(t, json.Unmarshal(again, &back))
		}
		requireSameEvent(t, withoutEmpty(ev), back, "round trip of %q via %q", data, again)
	})
}

// withoutEmpty returns ev with its empty omitempty slices nil, as the
// encoder leaves them out.
func withoutEmpty(ev Event) Event {
	if len(ev.Refused) == 0 {
		ev.Refused = nil
	}
	if len(ev.Shadow) == 0 {
		ev.Shadow = nil
	}
	if len(ev.Stats) == 0 {
		ev.Stats = nil
	}
	for i := range ev.Shadow {
		if len(ev.Shadow[i].Members) == 0 {
			ev.Shadow[i].Members = nil
		}
	}
	return ev
}

// BenchmarkDecodeEvent decodes the bench-projector's kind of line (2
// members) and the full sample event, by hand and with encoding/json.
func BenchmarkDecodeEvent(b *testing.B) {
	typical := []byte(`{"schema":1,"id":"019ac9a2-7e3b-7c4d-9e8f-0a1b2c3d4e5f","kind":"invite","app":"140000001",` +
		`"command":"Group.CallbackBeforeInviteJoinGroup","group_id":"@TGS#4211","group_type":"Private",` +
		`"operator":"op4211","members":["u4211a","u4211b"],"outcome":"allow","error_code":0,"policy_revision":7,` +
		`"fail_mode":false,"platform":"Android","client_ip":"10.0.0.1","event_time":"2026-11-28T09:24:10.086234Z",` +
		`"received_at":"2026-11-28T09:24:10.101234Z","decided_at":"2026-11-28T09:24:10.101434Z"}`)
	sample := sampleEvent()
	full, err := AppendEvent(nil, &sample)
	require.NoError(b, err)
	for _, in := range []struct {
		name string
		line []byte
	}{{"typical", typical}, {"full", full}} {
		b.Run(in.name+"/hand-written", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeEvent(in.line); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(in.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeReference(in.line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
