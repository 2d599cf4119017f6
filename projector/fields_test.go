package projector_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// readInvite reads an invite event back from its rows.
func readInvite(t *testing.T, pool *pgxpool.Pool, id string) decider.Event {
	t.Helper()
	ctx := context.Background()
	var (
		ev              decider.Event
		refused, shadow []byte
		stats, unread   []byte
		rowMembers      []string
		outcome         string
		revision        int64
		memberCount     int
	)
	err := pool.QueryRow(ctx, `SELECT event_id::text, schema_version, app, command, group_id, group_type, operator,
		member_count, outcome, refused, error_code, error_info, reject_rule, shadow, policy_revision, fail_mode,
		platform, client_ip, event_time, received_at, decided_at, stats, members, stats_unread, stats_known,
		coalesce(limit_hit, '') FROM invitegate.invite_events WHERE event_id = $1`, id).Scan(
		&ev.ID, &ev.Schema, &ev.App, &ev.Command, &ev.GroupID, &ev.GroupType, &ev.Operator,
		&memberCount, &outcome, &refused, &ev.ErrorCode, &ev.ErrorInfo, &ev.RejectRule, &shadow, &revision, &ev.FailMode,
		&ev.Platform, &ev.ClientIP, &ev.EventTime, &ev.ReceivedAt, &ev.DecidedAt, &stats, &rowMembers, &unread, &ev.StatsKnown,
		&ev.Limit)
	require.NoError(t, err)
	if unread != nil {
		require.NoError(t, json.Unmarshal(unread, &ev.StatsUnread))
	}
	ev.Kind, ev.Outcome, ev.PolicyRevision = decider.KindInvite, decider.Outcome(outcome), uint64(revision)
	if refused != nil {
		require.NoError(t, json.Unmarshal(refused, &ev.Refused))
	}
	if shadow != nil {
		require.NoError(t, json.Unmarshal(shadow, &ev.Shadow))
	}
	if stats != nil {
		require.NoError(t, json.Unmarshal(stats, &ev.Stats))
	}
	ev.Members = []string{}
	var refusedRows []decider.Refusal
	rows, err := pool.Query(ctx, `SELECT member, refused, coalesce(rule, '') FROM invitegate.invite_members
		WHERE event_id = $1 ORDER BY position`, id)
	require.NoError(t, err)
	for rows.Next() {
		var (
			member, rule string
			isRefused    bool
		)
		require.NoError(t, rows.Scan(&member, &isRefused, &rule))
		ev.Members = append(ev.Members, member)
		if isRefused {
			refusedRows = append(refusedRows, decider.Refusal{Member: member, Rule: rule})
		}
	}
	require.NoError(t, rows.Err())
	require.Equal(t, memberCount, len(ev.Members))
	require.Equal(t, ev.Members, rowMembers, "invite_events.members holds invite_members in request order")
	require.Equal(t, ev.Refused, refusedRows, "invite_members.refused and rule agree with the event")
	return ev
}

func normalize(ev decider.Event) decider.Event {
	ev.ReceivedAt, ev.DecidedAt = ev.ReceivedAt.UTC(), ev.DecidedAt.UTC()
	if ev.EventTime != nil {
		t := ev.EventTime.UTC()
		ev.EventTime = &t
	}
	return ev
}

func TestEveryFieldLands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	evs := invites(5) // allow, partial, reject, shadow, fail mode
	evs[2].Stats = []decider.StatRead{{Stat: "operator_invites_1h", Key: evs[2].Operator, Value: 201}}
	evs[2].StatsUnread = []decider.StatRead{{Stat: "member_invited_1h", Key: evs[2].Members[0], Value: 4}}
	evs[2].StatsKnown = []string{"member_invited_1h", "operator_invites_1h"}
	evs[4].Limit = decider.LimitDecisionTimeout
	joined, exited := membership(1, decider.KindMemberJoined), membership(2, decider.KindMemberExited)
	joined.Limit = decider.LimitMaxMembers
	b.publish(t, evs, 5)
	b.publish(t, []decider.Event{joined}, 1)
	b.publish(t, []decider.Event{exited}, 1)
	_, reg := b.worker(t, b.cfg, b.js, b.pool)

	waitRows(t, b.pool, "invite_events", 5)
	waitRows(t, b.pool, "membership_events", 2)
	for _, want := range evs {
		require.Equal(t, normalize(want), normalize(readInvite(t, b.pool, want.ID)))
	}
	for _, want := range []decider.Event{joined, exited} {
		require.Equal(t, normalize(want), normalize(readMembership(t, b.pool, want.ID)))
	}
	waitRows(t, b.pool, "invite_members", 10)
	require.Equal(t, 0, count(t, b.pool, "SELECT count(*) FROM invitegate.dead_letters"))
	require.Equal(t, 5.0, counterValue(t, reg, "invitegate_projector_events_total", "kind", "invite"))
	require.Equal(t, 1.0, counterValue(t, reg, "invitegate_projector_events_total", "kind", "member_joined"))
	require.Equal(t, 1.0, counterValue(t, reg, "invitegate_projector_events_total", "kind", "member_exited"))
	requireRollupsMatchRows(t, b.pool)

	var requests, invited, refused, rejected int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT sum(requests), sum(members_invited),
		sum(members_refused), sum(requests_rejected) FROM invitegate.invite_trends_hourly`).
		Scan(&requests, &invited, &refused, &rejected))
	require.Equal(t, []int{5, 10, 1, 1}, []int{requests, invited, refused, rejected})
	require.Eventually(t, func() bool {
		return counterValue(t, reg, "invitegate_projector_pending_messages") == 0
	}, waitFor, 10*time.Millisecond)
}

func readMembership(t *testing.T, pool *pgxpool.Pool, id string) decider.Event {
	t.Helper()
	var ev decider.Event
	err := pool.QueryRow(context.Background(), `SELECT event_id::text, schema_version, kind, app, command, group_id,
		group_type, operator, members, change_type, platform, client_ip, event_time, received_at, decided_at,
		coalesce(limit_hit, '') FROM invitegate.membership_events WHERE event_id = $1`, id).Scan(
		&ev.ID, &ev.Schema, &ev.Kind, &ev.App, &ev.Command, &ev.GroupID, &ev.GroupType, &ev.Operator,
		&ev.Members, &ev.ChangeType, &ev.Platform, &ev.ClientIP, &ev.EventTime, &ev.ReceivedAt, &ev.DecidedAt,
		&ev.Limit)
	require.NoError(t, err)
	return ev
}
