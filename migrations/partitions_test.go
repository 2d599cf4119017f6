package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// history fills an installation at version 5 with invites and membership
// events spread over the last 100 days (older than the current month and
// within it), two members per invite.
const history = `
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, error_code, error_info, reject_rule, policy_revision, fail_mode,
	platform, client_ip, received_at, decided_at, stream_seq, stats)
SELECT gen_random_uuid(), 1, 'a', 'c', 'g' || (i % 10), 'Public', 'op' || (i % 7), 2, 0, 'allow', 0, '', '', 1, false,
	'iOS', '', now() - i * interval '1 hour', now(), i, '[{"stat": "operator_invites_1h", "key": "x", "value": 1}]'
FROM generate_series(0, 2399) AS i;
INSERT INTO invitegate.invite_members (event_id, position, member, refused, rule, received_at)
SELECT event_id, p, 'm' || stream_seq || '-' || p, false, NULL, received_at
FROM invitegate.invite_events, generate_series(0, 1) AS p;
INSERT INTO invitegate.membership_events (event_id, schema_version, kind, app, command, group_id, group_type,
	operator, members, change_type, platform, client_ip, received_at, decided_at, stream_seq)
SELECT gen_random_uuid(), 1, 'member_joined', 'a', 'c', 'g', 'Public', 'op', '{x,y}', 'Apply', '', '',
	now() - i * interval '1 day', now(), i
FROM generate_series(0, 99) AS i;`

// fingerprint sums up every row of the three tables.
const fingerprint = `
SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY event_id)) FROM invitegate.invite_events t),
       (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY event_id, position)) FROM invitegate.invite_members t),
       (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY event_id)) FROM invitegate.membership_events t)`

func TestPartitionConversionKeepsEveryRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	require.NoError(t, migrations.UpTo(ctx, dsn, 5))
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, history)
	require.NoError(t, err)
	var before [3]string
	require.NoError(t, conn.QueryRow(ctx, fingerprint).Scan(&before[0], &before[1], &before[2]))

	// Up to the conversion only: later migrations add columns, which would
	// change every row's text.
	require.NoError(t, migrations.UpTo(ctx, dsn, 6))
	var after [3]string
	require.NoError(t, conn.QueryRow(ctx, fingerprint).Scan(&after[0], &after[1], &after[2]))
	require.Equal(t, before, after)
	require.Equal(t, "2400", after[0][:4])

	// Every partition holds a day from the current UTC month on (and 7
	// days ahead), a month before it; none overlaps the next.
	rows, err := conn.Query(ctx, `SELECT parent, from_time, to_time FROM invitegate.partitions ORDER BY parent, from_time`)
	require.NoError(t, err)
	type part struct {
		Parent   string
		From, To time.Time
	}
	parts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[part])
	require.NoError(t, err)
	month0 := time.Date(time.Now().UTC().Year(), time.Now().UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	last := map[string]part{}
	for _, p := range parts {
		p.From, p.To = p.From.UTC(), p.To.UTC()
		if p.From.Before(month0) {
			require.Equal(t, p.From.AddDate(0, 1, 0), p.To, "%+v", p)
		} else {
			require.Equal(t, p.From.Add(24*time.Hour), p.To, "%+v", p)
		}
		if prev, ok := last[p.Parent]; ok {
			require.False(t, p.From.Before(prev.To), "%+v overlaps %+v", p, prev)
		}
		last[p.Parent] = p
	}
	for _, parent := range []string{"invite_events", "invite_members", "membership_events"} {
		require.Equal(t, today.AddDate(0, 0, 8), last[parent].To, parent)
	}

	// The key still refuses a second copy of an event.
	_, err = conn.Exec(ctx, `INSERT INTO invitegate.invite_events SELECT * FROM invitegate.invite_events LIMIT 1`)
	require.ErrorContains(t, err, "duplicate key")

	// And back: down keeps every row too.
	_, err = migrations.Down(ctx, dsn)
	require.NoError(t, err)
	var down [3]string
	require.NoError(t, conn.QueryRow(ctx, fingerprint).Scan(&down[0], &down[1], &down[2]))
	require.Equal(t, before, down)
}

func TestDropPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewMigrated(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SELECT invitegate.create_daily_partitions('2026-01-01', '2026-01-03')`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `SELECT invitegate.create_daily_partitions('2026-01-01', '2027-02-01')`)
	require.ErrorContains(t, err, "more than 366 days")
	rows, err := conn.Query(ctx, `SELECT invitegate.drop_partitions('2026-01-02T12:00:00Z')`)
	require.NoError(t, err)
	dropped, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"invite_events_p20260101", "invite_members_p20260101", "membership_events_p20260101"}, dropped)
	var left int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM invitegate.partitions WHERE from_time < '2026-01-04'`).Scan(&left))
	require.Equal(t, 6, left)
}
