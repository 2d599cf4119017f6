package decider

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleEvent() Event {
	et := time.Date(2022, 12, 9, 8, 26, 54, 123e6, time.UTC)
	return Event{
		Schema: SchemaVersion, ID: "01938c3e-5a2b-7c4d-9e8f-0a1b2c3d4e5f", Kind: KindInvite,
		App: "1400000000", Command: CommandBeforeInviteJoinGroup, GroupID: "@TGS#2J4SZEAEL",
		GroupType: "Public", Operator: "leckie", Members: []string{"jared", "leckie", "quote\"back\\slash\x01\n<&>\u2028\xff"},
		Outcome: OutcomePartial, Refused: []Refusal{{Member: "jared", Rule: "banned-member"}},
		ErrorCode: 0, ErrorInfo: "tab\there", RejectRule: "",
		Shadow:         []ShadowEffect{{Rule: "no-self", Kind: "refuse_member", Members: []string{"leckie"}}, {Rule: "r", Kind: "reject"}},
		Stats:          []StatRead{{Stat: "operator_invites_1h", Key: "leckie", Value: 201}, {Stat: "member_invited_1h", Key: "q\"x", Value: -1}},
		PolicyRevision: 42, FailMode: true, Platform: "iOS", ClientIP: "127.0.0.1", EventTime: &et,
		ReceivedAt: time.Date(2026, 11, 28, 9, 24, 10, 101234000, time.UTC),
		DecidedAt:  time.Date(2026, 11, 28, 9, 24, 10, 101240000, time.UTC),
	}
}

// requireSameJSON decodes both encodings into generic values and compares.
func requireSameJSON(t *testing.T, ev *Event) {
	t.Helper()
	want, err := json.Marshal(ev)
	require.NoError(t, err)
	got := appendEventJSON(nil, ev)
	var w, g any
	require.NoError(t, json.Unmarshal(want, &w))
	require.NoError(t, json.Unmarshal(got, &g), "invalid JSON: %s", got)
	require.Equal(t, w, g, "hand-written:\n%s\nencoding/json:\n%s", got, want)
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	full := sampleEvent()
	requireSameJSON(t, &full)
	full.StatsUnread = []StatRead{{Stat: "member_invited_1h", Key: "jared", Value: 3}}
	full.StatsKnown = []string{"member_invited_1h", "operator_invites_1h"}
	requireSameJSON(t, &full)
	empty := Event{}
	requireSameJSON(t, &empty)
	membership := NewMembershipEvent(&Membership{App: "1", Command: CommandAfterMemberExit, GroupID: "g",
		Members: []string{"a"}, ChangeType: "Kicked"}, time.Unix(1, 5).UTC())
	requireSameJSON(t, &membership)
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("leckie", "jared", "rule", "info", uint64(3), int64(1670574414123))
	f.Add("\xff\xfe", "\u2029\"", "", "\x00", uint64(0), int64(-1))
	f.Fuzz(func(t *testing.T, op, member, rule, info string, rev uint64, ms int64) {
		ev := sampleEvent()
		ev.Operator, ev.Members, ev.ErrorInfo, ev.PolicyRevision = op, []string{member, op}, info, rev
		ev.Refused = []Refusal{{Member: member, Rule: rule}}
		et := time.UnixMilli(ms % 1e15).UTC()
		ev.EventTime = &et
		requireSameJSON(t, &ev)
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	ev := sampleEvent()
	buf := make([]byte, 0, 2048)
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendEventJSON(buf[:0], &ev)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, _ := json.Marshal(&ev)
			buf = append(buf[:0], out...)
		}
	})
}

func TestAppendEventRefusesUnencodableTimes(t *testing.T) {
	t.Parallel()
	ev := sampleEvent()
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	ev.ReceivedAt = far
	buf, err := AppendEvent([]byte("keep"), &ev)
	require.ErrorContains(t, err, "outside years 0-9999")
	require.Equal(t, "keep", string(buf))

	ev = sampleEvent()
	buf, err = AppendEvent(nil, &ev)
	require.NoError(t, err)
	events, bad := DecodeBatch(buf)
	require.Empty(t, bad)
	require.Len(t, events, 1)
	require.Equal(t, ev.Members[:2], events[0].Members[:2])
	require.Equal(t, "quote\"back\\slash\x01\n<&>\u2028\uFFFD", events[0].Members[2], "invalid UTF-8 becomes U+FFFD")
	require.Equal(t, ev.ID, events[0].ID)
	require.True(t, ev.EventTime.Equal(*events[0].EventTime))
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `quote " backslash \`, "<a href='x'>&</a>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"héllo wörld 日本", "bad \xff utf8 \xc3", "line\u2028para\u2029", "emoji 😀"} {
		requireStringLikeJSON(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("You cannot invite users right now.")
	f.Add("<>&\"\\\x00\u2028\xff")
	f.Fuzz(requireStringLikeJSON)
}

func requireStringLikeJSON(t *testing.T, s string) {
	want, err := json.Marshal(s)
	require.NoError(t, err)
	require.Equal(t, string(want), string(AppendJSONString(nil, s)), "%q", s)
}
