package projector_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// limitHits returns limit_hit by event id of table, nil for NULL.
func limitHits(t *testing.T, pool *pgxpool.Pool, table string) map[string]*string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT event_id::text, limit_hit FROM invitegate."+table)
	require.NoError(t, err)
	out := map[string]*string{}
	for rows.Next() {
		var (
			id  string
			hit *string
		)
		require.NoError(t, rows.Scan(&id, &hit))
		out[id] = hit
	}
	require.NoError(t, rows.Err())
	return out
}

// TestLimitHitLands checks that the bound that decided an event lands in
// limit_hit, NULL when none did, on both ways invites are written (straight
// COPY, and through the staging table when a batch meets stored events),
// and that the hourly rollup counts the limited invites.
func TestLimitHitLands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	evs := invites(6) // 4: fail mode, no policy loaded
	evs[0].FailMode, evs[0].Limit = true, decider.LimitMaxMembers
	evs[1].FailMode, evs[1].Limit = true, decider.LimitDecisionTimeout
	joined, exited := membership(1, decider.KindMemberJoined), membership(2, decider.KindMemberExited)
	joined.Limit = decider.LimitMaxMembers
	b.publish(t, evs[:5], 5)
	b.publish(t, []decider.Event{joined, exited}, 1)
	b.worker(t, b.cfg, b.js, b.pool)
	waitRows(t, b.pool, "invite_events", 5)
	waitRows(t, b.pool, "membership_events", 2)

	// A message repeating a stored invite beside a new limited one: the
	// projector stores it through the staging table.
	late := evs[5]
	late.FailMode, late.Limit = true, decider.LimitDecisionTimeout
	b.publish(t, []decider.Event{evs[0], late}, 2)
	waitRows(t, b.pool, "invite_events", 6)

	s := func(v string) *string { return &v }
	require.Equal(t, map[string]*string{
		evs[0].ID: s(decider.LimitMaxMembers), evs[1].ID: s(decider.LimitDecisionTimeout),
		evs[2].ID: nil, evs[3].ID: nil, evs[4].ID: nil, late.ID: s(decider.LimitDecisionTimeout),
	}, limitHits(t, b.pool, "invite_events"))
	require.Equal(t, map[string]*string{joined.ID: s(decider.LimitMaxMembers), exited.ID: nil},
		limitHits(t, b.pool, "membership_events"))
	require.Equal(t, normalize(late), normalize(readInvite(t, b.pool, late.ID)),
		"an invite stored through the staging table keeps every column")

	require.Equal(t, 4, count(t, b.pool, `SELECT sum(requests_fail_mode) FROM invitegate.invite_trends_hourly`))
	require.Equal(t, 3, count(t, b.pool, `SELECT sum(requests_limited) FROM invitegate.invite_trends_hourly`))
	requireRollupsMatchRows(t, b.pool)
}
