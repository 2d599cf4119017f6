package projector

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

// TestWriteBatchSkipsStoredInvites writes a batch whose invites are partly
// stored already: the copy meets the primary key, and the batch is stored
// again through the staging table, adding only the new invites' rows and
// rollups. Both ways store the same columns.
func TestWriteBatchSkipsStoredInvites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewMigrated(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	evs := benchEvents(20)
	batch := func(from, to int) *batchRows {
		r := &batchRows{}
		for i := from; i < to; i++ {
			r.invites = append(r.invites, &evs[i])
		}
		return r
	}
	res, err := writeBatch(ctx, pool, newPartitions(), batch(0, 10))
	require.NoError(t, err)
	require.Equal(t, 10, res.inserted["invite"])

	res, err = writeBatch(ctx, pool, newPartitions(), batch(5, 20))
	require.NoError(t, err)
	require.Equal(t, 10, res.inserted["invite"])
	require.Equal(t, 5, res.duplicates)

	var events, members, requests, invited int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM invitegate.invite_events),
		(SELECT count(*) FROM invitegate.invite_members),
		(SELECT sum(requests) FROM invitegate.invite_rollup_operator_daily),
		(SELECT sum(members_invited) FROM invitegate.invite_rollup_hourly)`).Scan(&events, &members, &requests, &invited))
	require.Equal(t, []int{20, 40, 20, 40}, []int{events, members, requests, invited})

	// Row 12 came through staging, row 2 through the copy: alike but for
	// the values that differ between the two events.
	var copied, staged string
	const row = `SELECT concat_ws('|', schema_version, app, command, group_type, member_count, refused_count, outcome,
		refused, error_code, error_info, reject_rule, shadow, policy_revision, fail_mode, platform, client_ip,
		event_time, received_at, decided_at, stats, projected_at IS NOT NULL)
		FROM invitegate.invite_events WHERE event_id = $1`
	require.NoError(t, pool.QueryRow(ctx, row, evs[2].id).Scan(&copied))
	require.NoError(t, pool.QueryRow(ctx, row, evs[12].id).Scan(&staged))
	require.Equal(t, copied, staged)
}
