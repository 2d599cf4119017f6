package ingress

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func TestInviteEventEveryField(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q := inviteQuery()
	q.Set("OptPlatform", "Web") // matches the web-shadow reject rule
	body := invite("@TGS#2J4SZEAEL", "Public", "leckie", "jared", "spammer1", "leckie", "bot-1")
	w := b.post(q, body)
	requireAnswer(t, w, http.StatusOK,
		`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["spammer1","bot-1"]}`)

	events := b.sink.all()
	require.Len(t, events, 1)
	ev := events[0]
	require.NotEmpty(t, ev.ID)
	eventTime := time.UnixMilli(1670574414123).UTC()
	ev.ID = ""
	require.Equal(t, decider.Event{
		Schema:    decider.SchemaVersion,
		Kind:      decider.KindInvite,
		App:       testApp,
		Command:   decider.CommandBeforeInviteJoinGroup,
		GroupID:   "@TGS#2J4SZEAEL",
		GroupType: "Public",
		Operator:  "leckie",
		Members:   []string{"jared", "spammer1", "leckie", "bot-1"},
		Outcome:   decider.OutcomePartial,
		Refused:   []decider.Refusal{{Member: "spammer1", Rule: "banned-member"}, {Member: "bot-1", Rule: "no-bots"}},
		ErrorCode: 0,
		Shadow: []decider.ShadowEffect{ // document order
			{Rule: "no-self-invite", Kind: decider.KindRefuseMember, Members: []string{"leckie"}},
			{Rule: "web-shadow", Kind: decider.KindReject},
		},
		PolicyRevision: 7,
		Platform:       "Web",
		ClientIP:       "203.0.113.9",
		EventTime:      &eventTime,
		ReceivedAt:     b.now,
		DecidedAt:      b.now,
	}, ev)

	// Metrics record the same decision.
	m := b.h.metrics
	require.Equal(t, 1.0, testutil.ToFloat64(m.ruleMatches.WithLabelValues("banned-member", "enforce")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.ruleMatches.WithLabelValues("no-bots", "enforce")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.ruleMatches.WithLabelValues("web-shadow", "shadow")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.ruleMatches.WithLabelValues("no-self-invite", "shadow")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.callbacks.WithLabelValues(decider.CommandBeforeInviteJoinGroup, "partial")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.ruleErrors.WithLabelValues("numeric-group")), "int(group.id) errors on @TGS# ids")
}

func TestInviteEventReject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.post(inviteQuery(), invite("g", "Public", "badop", "jared"))
	events := b.sink.all()
	require.Len(t, events, 1)
	ev := events[0]
	require.Equal(t, decider.OutcomeReject, ev.Outcome)
	require.Equal(t, "blocked-operator", ev.RejectRule)
	require.Equal(t, 10101, ev.ErrorCode)
	require.Equal(t, "You cannot invite users right now.", ev.ErrorInfo)
	require.Empty(t, ev.Refused)
	require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.ruleMatches.WithLabelValues("blocked-operator", "enforce")))
	require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.callbacks.WithLabelValues(decider.CommandBeforeInviteJoinGroup, "reject")))
}

// The event's strings outlive the pooled request buffer: later requests
// must not overwrite them.
func TestInviteEventOutlivesBuffers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.post(inviteQuery(), invite("group-one", "Public", "alice", "m1", "m2"))
	for range 20 {
		b.post(inviteQuery(), invite("GROUP-TWO", "Private", "BOBBY", "XX", "YY"))
	}
	ev := b.sink.all()[0]
	require.Equal(t, "group-one", ev.GroupID)
	require.Equal(t, "alice", ev.Operator)
	require.Equal(t, []string{"m1", "m2"}, ev.Members)
}

func TestNoSinkMeansNoEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.h.sink = nil
	requireAnswer(t, b.post(inviteQuery(), seedSample), http.StatusOK, okAnswer)
	requireAnswer(t, b.post(commandQuery(decider.CommandAfterMemberExit), `{"GroupId":"g"}`), http.StatusOK, okAnswer)
}

func TestMembershipEvents(t *testing.T) {
	t.Parallel()
	eventTime := time.UnixMilli(1670574414123).UTC()
	tests := []struct {
		command, body string
		want          decider.Event
	}{
		{decider.CommandAfterNewMemberJoin,
			`{"CallbackCommand":"Group.CallbackAfterNewMemberJoin","GroupId":"@TGS#2J4SZEAEL","Type":"Public","JoinType":"Invited","Operator_Account":"leckie","NewMemberList":[{"Member_Account":"jared"},{"Member_Account":"tommy"}],"EventTime":"1670574414123"}`,
			decider.Event{Kind: decider.KindMemberJoined, Command: decider.CommandAfterNewMemberJoin, GroupType: "Public",
				Operator: "leckie", Members: []string{"jared", "tommy"}, ChangeType: "Invited"}},
		{decider.CommandAfterMemberExit,
			`{"CallbackCommand":"Group.CallbackAfterMemberExit","GroupId":"@TGS#2J4SZEAEL","Type":"Public","ExitType":"Kicked","Operator_Account":"leckie","ExitMemberList":[{"Member_Account":"jared"}],"EventTime":1670574414123}`,
			decider.Event{Kind: decider.KindMemberExited, Command: decider.CommandAfterMemberExit, GroupType: "Public",
				Operator: "leckie", Members: []string{"jared"}, ChangeType: "Kicked"}},
		{decider.CommandAfterMemberExit, // lenient: only GroupId is required
			`{"GroupId":"@TGS#2J4SZEAEL","EventTime":1670574414123}`,
			decider.Event{Kind: decider.KindMemberExited, Command: decider.CommandAfterMemberExit, Members: []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.want.ChangeType+tt.want.Kind, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			requireAnswer(t, b.post(commandQuery(tt.command), tt.body), http.StatusOK, okAnswer)
			events := b.sink.all()
			require.Len(t, events, 1)
			ev := events[0]
			require.NotEmpty(t, ev.ID)
			ev.ID = ""
			want := tt.want
			want.Schema, want.App, want.GroupID = decider.SchemaVersion, testApp, "@TGS#2J4SZEAEL"
			want.Platform, want.ClientIP, want.EventTime = "iOS", "203.0.113.9", &eventTime
			want.ReceivedAt, want.DecidedAt = b.now, b.now
			require.Equal(t, want, ev)
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.callbacks.WithLabelValues(tt.command, outcomeOK)))
		})
	}
}

func TestMembershipMalformedStillOK(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, reason string
	}{
		{"malformed JSON", `{"GroupId":`, reasonMalformedJSON},
		{"missing GroupId", `{"Operator_Account":"a"}`, reasonMissingGroupID},
		{"bad member list", `{"GroupId":"g","ExitMemberList":[1]}`, reasonBadMembers},
		{"other command in body", `{"GroupId":"g","CallbackCommand":"Group.CallbackAfterNewMemberJoin"}`, reasonCommandMismatch},
		{"body too large", `{"GroupId":"` + strings.Repeat("g", 600) + `"}`, reasonBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *Config) { c.MaxBodyBytes = 512 })
			requireAnswer(t, b.post(commandQuery(decider.CommandAfterMemberExit), tt.body), http.StatusOK, okAnswer)
			require.Empty(t, b.sink.all())
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.errors.WithLabelValues(membershipReasonPrefix+tt.reason)))
			require.Contains(t, b.logs.String(), `"level":"DEBUG","msg":"membership callback not recorded"`)
			require.Contains(t, b.logs.String(), `"reason":"`+tt.reason+`"`)
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.callbacks.WithLabelValues(decider.CommandAfterMemberExit, outcomeOK)))
		})
	}
}
