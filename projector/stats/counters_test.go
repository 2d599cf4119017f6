package stats

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func invite(at time.Time, app, group, operator string, outcome decider.Outcome, members ...string) *decider.Event {
	return &decider.Event{Schema: decider.SchemaVersion, ID: decider.NewEventID(), Kind: decider.KindInvite, App: app,
		GroupID: group, Operator: operator, Members: members, Outcome: outcome, ReceivedAt: at, DecidedAt: at}
}

func membership(at time.Time, kind, group, change string, members ...string) *decider.Event {
	return &decider.Event{Schema: decider.SchemaVersion, ID: decider.NewEventID(), Kind: kind, App: "a",
		GroupID: group, Members: members, ChangeType: change, ReceivedAt: at, DecidedAt: at}
}

func TestWindowsSlide(t *testing.T) {
	t.Parallel()
	c := NewCounters(false)
	c.Apply(invite(t0, "a", "g", "alice", decider.OutcomeAllow, "m1", "m2"), 0)
	c.Apply(invite(t0.Add(30*time.Minute), "a", "g", "alice", decider.OutcomeAllow, "m1"), 0)
	val := func(st decider.Stat, id string, at time.Time) int64 { return c.Value(st, "a", id, at) }

	require.EqualValues(t, 3, val(decider.StatOperatorInvites1h, "alice", t0.Add(30*time.Minute)))
	require.EqualValues(t, 2, val(decider.StatMemberInvited1h, "m1", t0.Add(59*time.Minute)))
	// An hour after the first invite it has left the 1h window, not the 24h one.
	require.EqualValues(t, 1, val(decider.StatOperatorInvites1h, "alice", t0.Add(60*time.Minute)))
	require.EqualValues(t, 3, val(decider.StatOperatorInvites24h, "alice", t0.Add(60*time.Minute)))
	require.EqualValues(t, 3, val(decider.StatGroupInvites1h, "g", t0.Add(31*time.Minute)))
	require.EqualValues(t, 0, val(decider.StatOperatorInvites1h, "alice", t0.Add(91*time.Minute)))
	require.EqualValues(t, 3, val(decider.StatOperatorInvites24h, "alice", t0.Add(23*time.Hour)))
	require.EqualValues(t, 0, val(decider.StatOperatorInvites24h, "alice", t0.Add(25*time.Hour)))
}

func TestRefusalsAndGroupSize(t *testing.T) {
	t.Parallel()
	c := NewCounters(false)
	c.Apply(invite(t0, "a", "g", "alice", decider.OutcomeReject, "m1", "m2"), 0)
	p := invite(t0, "a", "g", "alice", decider.OutcomePartial, "m3", "m4", "m5")
	p.Refused = []decider.Refusal{{Member: "m4", Rule: "r"}}
	c.Apply(p, 0)
	c.Apply(membership(t0, decider.KindMemberJoined, "g", "Invited", "m3", "m5"), 0) // already counted by the invite
	c.Apply(membership(t0, decider.KindMemberJoined, "g", "Apply", "m6"), 0)
	c.Apply(membership(t0, decider.KindMemberExited, "g", "Quit", "m3"), 0)
	c.Apply(membership(t0, decider.KindMemberExited, "h", "Kicked", "x"), 0) // a group we never saw join

	require.EqualValues(t, 3, c.Value(decider.StatOperatorRefused24h, "a", "alice", t0))
	require.EqualValues(t, 2, c.Value(decider.StatGroupSize, "a", "g", t0))
	require.EqualValues(t, 2, c.Value(decider.StatGroupSize, "a", "g", t0.Add(48*time.Hour)), "sizes do not slide")
	require.EqualValues(t, 0, c.Value(decider.StatGroupSize, "a", "h", t0), "never below 0")
	require.EqualValues(t, 0, c.Value(decider.StatGroupSize, "a", "unknown", t0))
}

func collect(fn func(func(decider.StatUpdate))) map[string]int64 {
	out := map[string]int64{}
	fn(func(u decider.StatUpdate) { out[u.Stat.String()+"/"+u.Key] = u.Value })
	return out
}

func TestChangesAndScanExpire(t *testing.T) {
	t.Parallel()
	c := NewCounters(false)
	c.Apply(invite(t0, "a", "g", "alice", decider.OutcomeAllow, "m1"), 0)
	got := collect(func(e func(decider.StatUpdate)) { c.Changes(t0, e) })
	require.Equal(t, map[string]int64{
		"operator_invites_1h/alice": 1, "operator_invites_24h/alice": 1, "member_invited_1h/m1": 1,
		"group_invites_1h/g": 1, "group_size/g": 1,
	}, got)
	require.Empty(t, collect(func(e func(decider.StatUpdate)) { c.Changes(t0, e) }), "nothing new")
	require.Empty(t, collect(func(e func(decider.StatUpdate)) { c.Scan(t0.Add(time.Minute), false, DefaultGroupIdle, e) }), "nothing slid")
	require.Len(t, collect(func(e func(decider.StatUpdate)) { c.Scan(t0.Add(time.Minute), true, DefaultGroupIdle, e) }), 5, "a full scan republishes")

	// After an hour the 1h counts fall to 0 without new events.
	got = collect(func(e func(decider.StatUpdate)) { c.Scan(t0.Add(time.Hour), false, DefaultGroupIdle, e) })
	require.Equal(t, map[string]int64{"operator_invites_1h/alice": 0, "member_invited_1h/m1": 0, "group_invites_1h/g": 0}, got)
	require.Equal(t, 2, c.Keys(), "the member is forgotten; the operator (24h) and the group (size) live on")
	got = collect(func(e func(decider.StatUpdate)) { c.Scan(t0.Add(25*time.Hour), false, DefaultGroupIdle, e) })
	require.Equal(t, map[string]int64{"operator_invites_24h/alice": 0}, got)
	require.Equal(t, 1, c.Keys(), "only the group with a member is left")
}
