package replay_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/replay"
	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/cputime"
	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// The replay benchmark (make bench-replay): REPLAY_EVENTS invites (default
// 10,000,000) over 30 days, loaded once into the database
// invitegate_bench_replay (kept between runs, reloaded when the size
// changes), with every column a replay reads, then replayed whole with
// benchCandidate. It reports invites per second and the peak heap.

// benchPolicy is the policy the benchmark's invites were decided with
// (loadReplaySQL writes exactly its answers), and with moreBanned and
// enforced the candidate: 200 more banned operators, and the flood rule
// enforced instead of shadowed. About 3% of the answers change.
func benchPolicy(tb testing.TB, candidate bool) *decider.Snapshot {
	doc := &decider.Document{APIVersion: decider.APIVersion, Lists: map[string][]string{}, Rules: []decider.RuleSpec{
		{Name: "banned-operator", Reject: "operator in lists.banned_operators", ErrorCode: 10101},
		{Name: "flood", Reject: `platform == "RESTAPI" && stats.operator_invites_1h > 250`, Mode: decider.ModeShadow},
		{Name: "banned-member", RefuseMember: "member in lists.banned_members"},
		{Name: "no-self-invite", RefuseMember: "member == operator", Mode: decider.ModeShadow},
	}}
	ops := 200
	if candidate {
		ops = 400
		doc.Rules[1].Mode = ""
	}
	for i := range ops {
		doc.Lists["banned_operators"] = append(doc.Lists["banned_operators"], "op"+strconv.Itoa(i))
	}
	for i := range 10_000 {
		doc.Lists["banned_members"] = append(doc.Lists["banned_members"], "m"+strconv.Itoa(i))
	}
	snap, err := decider.Compile(doc, 1)
	require.NoError(tb, err)
	return snap
}

// loadReplaySQL inserts invites $1..$2 of $3 over the last 30 days, as the
// projector writes them since event schema 2: 200,000 operators
// ('op' || (i * 7919) % 200000), 50,000 groups, two members (one unique,
// one of 100,000 shared ids), and the answers and statistics of
// benchPolicy(false): op0..op199 rejected, m0..m9999 refused (10%), the
// shadow flood rule reading stats.operator_invites_1h (i % 300) only on
// RESTAPI, its value recorded in stats_unread otherwise.
const loadReplaySQL = `
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, refused, error_code, error_info, reject_rule, shadow,
	policy_revision, fail_mode, platform, client_ip, event_time, received_at, decided_at, stream_seq,
	stats, members, stats_unread, stats_known)
SELECT lpad(to_hex(i), 32, '0')::uuid, 2, '14000000' || (i % 3), 'Group.CallbackBeforeInviteJoinGroup',
	'@TGS#' || (i % 50000), (ARRAY['Public', 'Private', 'ChatRoom', 'Community'])[1 + i % 4], op,
	2,
	CASE WHEN NOT rejected AND refused THEN 1 ELSE 0 END,
	CASE WHEN rejected THEN 'reject' WHEN refused THEN 'partial' ELSE 'allow' END,
	CASE WHEN NOT rejected AND refused THEN jsonb_build_array(jsonb_build_object('member', mb, 'rule', 'banned-member')) END,
	CASE WHEN rejected THEN 10101 ELSE 0 END, '',
	CASE WHEN rejected THEN 'banned-operator' ELSE '' END,
	CASE WHEN rest AND i % 300 > 250 THEN '[{"rule": "flood", "kind": "reject"}]'::jsonb END,
	7, false, platform, '10.0.0.1',
	t.at - interval '15 milliseconds', t.at, t.at + interval '200 microseconds', i,
	CASE WHEN rest THEN jsonb_build_array(jsonb_build_object('stat', 'operator_invites_1h', 'key', op, 'value', i % 300)) END,
	ARRAY['u' || i, mb],
	CASE WHEN NOT rest AND i % 300 > 0 THEN jsonb_build_array(jsonb_build_object('stat', 'operator_invites_1h', 'key', op, 'value', i % 300)) END,
	ARRAY['operator_invites_1h']
FROM generate_series($1::int8, $2::int8) AS i,
	LATERAL (SELECT 'op' || ((i * 7919) % 200000) AS op, (i * 7919) % 200000 < 200 AS rejected,
		'm' || (i % 100000) AS mb, i % 100000 < 10000 AS refused,
		(ARRAY['iOS', 'Android', 'Web', 'RESTAPI', 'Windows', 'Mac'])[1 + i % 6] AS platform) AS o,
	LATERAL (SELECT platform = 'RESTAPI' AS rest) AS r,
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
	signature := fmt.Sprintf("replay events=%d v2", n)
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
	createBenchPartitions(tb, pool)
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
	cfg := replay.Config{DatabaseURL: dsn, Candidate: benchPolicy(b, true),
		Since: time.Now().Add(-31 * 24 * time.Hour), Until: time.Now().Add(time.Minute)}
	watch := watchReplay(b, dsn)
	cpu0 := cputime.Self()
	var s replay.Summary
	var err error
	b.ResetTimer()
	for b.Loop() {
		s, err = replay.Run(context.Background(), cfg)
		require.NoError(b, err)
	}
	b.StopTimer()
	cpu := cputime.Self() - cpu0
	peak, backend := watch()
	require.Equal(b, int64(n), s.Requests)
	perRun := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perRun, "s/replay")
	b.ReportMetric(float64(n)/perRun, "invites/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "replay-cpu-s")
	b.ReportMetric(backend.Seconds()/float64(b.N), "postgres-cpu-s")
	b.Logf("replayed %d invites in %.1f s (%.0f/s); CPU: replay %.1f s, PostgreSQL backend %.1f s; peak heap %.0f MiB; "+
		"changed %d, newly rejected %d, newly allowed %d, members newly refused %d, newly allowed %d; load average %s",
		n, perRun, float64(n)/perRun, cpu.Seconds()/float64(b.N), backend.Seconds()/float64(b.N), float64(peak)/(1<<20),
		s.Changed, s.NewlyRejected, s.NewlyAllowed, s.MembersNewlyRefused, s.MembersNewlyAllowed, loadAverage())
}

// watchReplay samples, until the returned function is called, the heap
// and the CPU time of the replay's PostgreSQL backends (found by their
// application_name; read from /proc, the server being local).
func watchReplay(b *testing.B, dsn string) func() (peakHeap uint64, backendCPU time.Duration) {
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(b, err)
	var peak uint64
	backends := map[int]time.Duration{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			var pids []int
			_ = pool.QueryRow(context.Background(), `SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity
				WHERE application_name = $1`, replay.ApplicationName).Scan(&pids)
			for _, pid := range pids {
				if c, err := cputime.Of(pid); err == nil {
					backends[pid] = c
				}
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, time.Duration) {
		close(stop)
		<-done
		pool.Close()
		var total time.Duration
		for _, c := range backends {
			total += c
		}
		return peak, total
	}
}

// createBenchPartitions creates the daily partitions of the invites the
// benchmark loads (the last 30 days), as the projector would ahead of them.
func createBenchPartitions(tb testing.TB, pool *pgxpool.Pool) {
	_, err := pool.Exec(context.Background(),
		`SELECT invitegate.create_daily_partitions((now() - interval '31 days')::date, (now() + interval '1 day')::date)`)
	require.NoError(tb, err)
}

func loadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// The benchmark's data holds exactly the answers of the policy in force:
// replaying it changes nothing, and the candidate changes what it should.
func TestReplayBenchData(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewMigrated(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	const n = 30_000
	createBenchPartitions(t, pool)
	_, err = pool.Exec(context.Background(), loadReplaySQL, 0, n-1, n)
	require.NoError(t, err)
	cfg := replay.Config{DatabaseURL: dsn, Candidate: benchPolicy(t, false),
		Since: time.Now().Add(-31 * 24 * time.Hour), Until: time.Now().Add(time.Minute)}
	s, err := replay.Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, []int64{n, 0, 0, 0, 0, 0}, totals(s))
	require.Zero(t, s.StatsUnrecorded)
	partial := int64(0)
	for i := range n {
		if i%100000 < 10000 && (i*7919)%200000 >= 200 {
			partial++
		}
	}
	require.Equal(t, partial, s.Before.Partial)

	cfg.Candidate = benchPolicy(t, true)
	s, err = replay.Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Zero(t, s.StatsUnrecorded)
	require.Zero(t, s.NewlyAllowed)
	require.Equal(t, s.Changed, s.NewlyRejected)
	flood := int64(0) // RESTAPI (i % 6 == 3) with i % 300 > 250, not rejected by an earlier rule
	for i := range n {
		if i%6 == 3 && i%300 > 250 && (i*7919)%200000 >= 400 {
			flood++
		}
	}
	require.Equal(t, flood, s.ByRule[1].RequestsRejected)
	require.Greater(t, s.Changed, flood, "and the newly banned operators")
}
