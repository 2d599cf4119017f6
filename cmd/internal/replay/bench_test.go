package replay_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/replay"
	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// The replay benchmark (make bench-replay): REPLAY_EVENTS invites (default
// 10,000,000) over 30 days, loaded once into the database
// invitegate_bench_replay (kept between runs, reloaded when the size
// changes), with every column a replay reads, then replayed whole with
// benchCandidate. It reports invites per second and the peak heap.

const benchCandidate = `
apiVersion: invitegate/v1
lists:
  banned_operators: [op17, op4242, op99999, op123456]
  banned_members: [u1000001a, u2000002b, u3000003a]
  staff: [op1, op2]
rules:
  - name: banned-operator
    reject: operator in lists.banned_operators
    error_code: 10101
  - name: community-staff-only
    reject: group.type == "Community" && !(operator in lists.staff)
  - name: flood
    reject: platform == "RESTAPI" && stats.operator_invites_1h > 250
  - name: banned-member
    refuse_member: member in lists.banned_members
  - name: no-self-invite
    refuse_member: member == operator
    mode: shadow
`

// loadReplaySQL inserts invites $1..$2 of $3 over the last 30 days, with
// 200,000 operators, 50,000 groups and 2 members each, as the projector
// writes them since event schema 2.
const loadReplaySQL = `
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, refused, error_code, error_info, reject_rule, shadow,
	policy_revision, fail_mode, platform, client_ip, event_time, received_at, decided_at, stream_seq,
	stats, members, stats_unread, stats_known)
SELECT lpad(to_hex(i), 32, '0')::uuid, 2, '14000000' || (i % 3), 'Group.CallbackBeforeInviteJoinGroup',
	'@TGS#' || (i % 50000), (ARRAY['Public', 'Private', 'ChatRoom', 'Community'])[1 + i % 4], op,
	2,
	CASE WHEN i % 10 = 1 THEN 1 ELSE 0 END,
	CASE WHEN i % 10 = 1 THEN 'partial' WHEN i % 20 = 2 THEN 'reject' ELSE 'allow' END,
	CASE WHEN i % 10 = 1 THEN jsonb_build_array(jsonb_build_object('member', 'u' || i || 'b', 'rule', 'banned-member')) END,
	CASE WHEN i % 20 = 2 THEN 10101 ELSE 0 END, '',
	CASE WHEN i % 20 = 2 THEN 'banned-operator' ELSE '' END,
	NULL, 7, false, (ARRAY['iOS', 'Android', 'Web', 'RESTAPI', 'Windows', 'Mac'])[1 + i % 6], '10.0.0.1',
	t.at - interval '15 milliseconds', t.at, t.at + interval '200 microseconds', i,
	CASE WHEN i % 6 = 3 THEN jsonb_build_array(jsonb_build_object('stat', 'operator_invites_1h', 'key', op, 'value', i % 300)) END,
	ARRAY['u' || i || 'a', 'u' || i || 'b'],
	CASE WHEN i % 6 <> 3 AND i % 5 = 0 THEN jsonb_build_array(jsonb_build_object('stat', 'operator_invites_1h', 'key', op, 'value', i % 300)) END,
	ARRAY['operator_invites_1h']
FROM generate_series($1::int8, $2::int8) AS i,
	LATERAL (SELECT 'op' || ((i * 7919) % 200000) AS op) AS o,
	LATERAL (SELECT now() - ($3::int8 - 1 - i) * (30 * interval '1 day') / $3::int8 AS at) AS t`

func benchEvents(tb testing.TB) int {
	n := 10_000_000
	if s := os.Getenv("REPLAY_EVENTS"); s != "" {
		var err error
		n, err = strconv.Atoi(s)
		require.NoError(tb, err, "REPLAY_EVENTS")
	}
	return n
}

// loadReplayBench fills invitegate_bench_replay with n invites unless it
// holds them already.
func loadReplayBench(tb testing.TB, n int) string {
	ctx := context.Background()
	dsn := pgtest.URL("invitegate_bench_replay")
	require.NoError(tb, migrations.EnsureDatabase(ctx, dsn))
	_, err := migrations.Up(ctx, dsn)
	require.NoError(tb, err)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(tb, err)
	defer pool.Close()
	signature := fmt.Sprintf("replay events=%d v1", n)
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS invitegate.bench_load (signature text, loaded_at timestamptz)`)
	require.NoError(tb, err)
	var have string
	_ = pool.QueryRow(ctx, `SELECT signature FROM invitegate.bench_load`).Scan(&have)
	if have == signature {
		return dsn
	}
	start := time.Now()
	_, err = pool.Exec(ctx, `TRUNCATE invitegate.invite_events, invitegate.invite_members, invitegate.bench_load`)
	require.NoError(tb, err)
	const chunk = 1_000_000
	for from := 0; from < n; from += chunk {
		to := min(from+chunk, n) - 1
		_, err := pool.Exec(ctx, loadReplaySQL, from, to, n)
		require.NoError(tb, err)
		tb.Logf("loaded invites %d..%d (%s)", from, to, time.Since(start).Round(time.Second))
	}
	_, err = pool.Exec(ctx, `VACUUM ANALYZE invitegate.invite_events`)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `INSERT INTO invitegate.bench_load VALUES ($1, now())`, signature)
	require.NoError(tb, err)
	tb.Logf("loaded %d invites in %s", n, time.Since(start).Round(time.Second))
	return dsn
}

func BenchmarkReplay(b *testing.B) {
	n := benchEvents(b)
	dsn := loadReplayBench(b, n)
	cand := compile(b, benchCandidate)
	cfg := replay.Config{DatabaseURL: dsn, Candidate: cand, Since: time.Now().Add(-31 * 24 * time.Hour), Until: time.Now().Add(time.Minute)}
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // the heap, sampled while the replay runs
		defer close(sampled)
		var ms runtime.MemStats
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	var s replay.Summary
	var err error
	b.ResetTimer()
	for b.Loop() {
		s, err = replay.Run(context.Background(), cfg)
		require.NoError(b, err)
	}
	b.StopTimer()
	close(stop)
	<-sampled
	require.Equal(b, int64(n), s.Requests)
	perRun := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perRun, "s/replay")
	b.ReportMetric(float64(n)/perRun, "invites/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.Logf("replayed %d invites in %.1f s (%.0f/s): changed %d, newly rejected %d, newly allowed %d, "+
		"members newly refused %d, newly allowed %d; peak heap %.0f MiB",
		n, perRun, float64(n)/perRun, s.Changed, s.NewlyRejected, s.NewlyAllowed,
		s.MembersNewlyRefused, s.MembersNewlyAllowed, float64(peak)/(1<<20))
}
