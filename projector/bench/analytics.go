package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/invitegate/invitegate/projector"
)

// DefaultAnalyticsURL is the database Analytics loads, kept between runs.
const DefaultAnalyticsURL = "postgres://postgres@127.0.0.1:5432/invitegate_bench_analytics?sslmode=disable"

// AnalyticsConfig configures Analytics.
type AnalyticsConfig struct {
	// DatabaseURL is the database to load; it is created if missing and
	// kept, so that a second run with the same Events and Days skips the
	// load. Default DefaultAnalyticsURL. Never point it at production.
	DatabaseURL string
	// Events is how many invite events to load. Default 10,000,000.
	Events int
	// Days is the history they span, ending now. Default 30.
	Days int
	// Operators is how many distinct inviters there are. Default 200,000.
	Operators int
	// Runs is how many times each query is timed. Default 5.
	Runs int
	// Reload forces a fresh load even when the database holds the data.
	Reload bool
	// Extra returns more queries to time after the documented ones, given
	// the loaded database (the dashboard's panels, the decision lookup).
	// Optional.
	Extra func(ctx context.Context, pool *pgxpool.Pool) ([]projector.Query, error)
}

// QueryTiming is the timing of one analyst query.
type QueryTiming struct {
	Name   string
	Rows   int
	Median time.Duration
	Max    time.Duration
}

// Analytics loads cfg.Events synthetic invite events over cfg.Days into
// cfg.DatabaseURL (2 members each, rollups rebuilt from the rows), unless
// already loaded, then times each of projector.AnalystQueries. Progress and
// results are written to out.
func Analytics(ctx context.Context, cfg AnalyticsConfig, out io.Writer) ([]QueryTiming, error) {
	cfg.DatabaseURL = cmp.Or(cfg.DatabaseURL, DefaultAnalyticsURL)
	cfg.Events = cmp.Or(cfg.Events, 10_000_000)
	cfg.Days = cmp.Or(cfg.Days, 30)
	cfg.Operators = cmp.Or(cfg.Operators, 200_000)
	cfg.Runs = cmp.Or(cfg.Runs, 5)
	report, err := projector.Prepare(ctx, projector.Config{DatabaseURL: cfg.DatabaseURL})
	if err != nil {
		return nil, err
	}
	for _, line := range report {
		if line != "no migrations to apply" {
			fmt.Fprintln(out, "migrate:", line)
		}
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	if err := ensureLoaded(ctx, pool, cfg, out); err != nil {
		return nil, err
	}
	queries := projector.AnalystQueries()
	if cfg.Extra != nil {
		extra, err := cfg.Extra(ctx, pool)
		if err != nil {
			return nil, fmt.Errorf("extra queries: %w", err)
		}
		queries = append(queries, extra...)
	}
	var timings []QueryTiming
	for _, q := range queries {
		qt, err := timeQuery(ctx, pool, q, cfg.Runs)
		if err != nil {
			return timings, err
		}
		fmt.Fprintf(out, "%-50s %5d rows  median %7.1f ms  max %7.1f ms\n", qt.Name, qt.Rows,
			ms(qt.Median), ms(qt.Max))
		timings = append(timings, qt)
	}
	return timings, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ensureLoaded loads the synthetic history unless the database already
// holds exactly this load (recorded in the table bench_load).
func ensureLoaded(ctx context.Context, pool *pgxpool.Pool, cfg AnalyticsConfig, out io.Writer) error {
	signature := fmt.Sprintf("events=%d days=%d operators=%d v1", cfg.Events, cfg.Days, cfg.Operators)
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS invitegate.bench_load (signature text, loaded_at timestamptz)`); err != nil {
		return fmt.Errorf("bench_load: %w", err)
	}
	var have string
	err := pool.QueryRow(ctx, `SELECT signature FROM invitegate.bench_load WHERE loaded_at > now() - interval '12 hours'`).Scan(&have)
	if err == nil && have == signature && !cfg.Reload {
		fmt.Fprintf(out, "reusing the load in %s (%s)\n", cfg.DatabaseURL, signature)
		return nil
	}
	start := time.Now()
	steps := loadSteps(cfg)
	for i, step := range steps {
		t := time.Now()
		if err := step.run(ctx, pool); err != nil {
			return fmt.Errorf("load: %s: %w", step.name, err)
		}
		fmt.Fprintf(out, "load %d/%d %-40s %s\n", i+1, len(steps), step.name, time.Since(t).Round(time.Millisecond))
	}
	_, err = pool.Exec(ctx, `INSERT INTO invitegate.bench_load VALUES ($1, now())`, signature)
	fmt.Fprintf(out, "loaded %d events in %s\n", cfg.Events, time.Since(start).Round(time.Second))
	return err
}

type loadStep struct {
	name string
	run  func(context.Context, *pgxpool.Pool) error
}

func exec(sql string, args ...any) func(context.Context, *pgxpool.Pool) error {
	return func(ctx context.Context, pool *pgxpool.Pool) error {
		_, err := pool.Exec(ctx, sql, args...)
		return err
	}
}

func loadSteps(cfg AnalyticsConfig) []loadStep {
	steps := []loadStep{{"truncate", exec(`TRUNCATE invitegate.invite_events, invitegate.invite_members,
		invitegate.bench_load, invitegate.invite_rollup_hourly, invitegate.invite_rollup_rule_daily,
		invitegate.invite_rollup_operator_daily`)},
		{"partitions", exec(`SELECT invitegate.create_daily_partitions(
			(now() AT TIME ZONE 'UTC')::date - $1::int - 1, (now() AT TIME ZONE 'UTC')::date + 1)`, cfg.Days)}}
	const chunk = 1_000_000
	for from := 0; from < cfg.Events; from += chunk {
		to := min(from+chunk, cfg.Events) - 1
		steps = append(steps, loadStep{fmt.Sprintf("invite events %d..%d", from, to),
			exec(loadEventsSQL, from, to, cfg.Events, cfg.Days, cfg.Operators)})
	}
	steps = append(steps,
		loadStep{"invite members (2 per event)", exec(loadMembersSQL)},
		loadStep{"rollups (projector.RebuildRollups)", func(ctx context.Context, pool *pgxpool.Pool) error {
			return projector.RebuildRollups(ctx, pool)
		}},
		loadStep{"vacuum analyze", exec(`VACUUM ANALYZE invitegate.invite_events, invitegate.invite_members,
			invitegate.invite_rollup_hourly, invitegate.invite_rollup_rule_daily, invitegate.invite_rollup_operator_daily`)},
	)
	return steps
}

// loadEventsSQL inserts events $1..$2 of $3, spread evenly over the last $4
// days (event $3-1 is now), with $5 operators; the same mix as
// SyntheticInvite. Ids are time-ordered like UUIDv7.
const loadEventsSQL = `
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, refused, error_code, error_info, reject_rule, shadow,
	policy_revision, fail_mode, platform, client_ip, event_time, received_at, decided_at, stream_seq)
SELECT lpad(to_hex(i), 32, '0')::uuid, 1, '14000000' || (i % 3), 'Group.CallbackBeforeInviteJoinGroup',
	'@TGS#' || (i % 50000), (ARRAY['Public', 'Private', 'ChatRoom', 'Community'])[1 + i % 4],
	'op' || ((i * 7919) % $5::int8),
	2,
	CASE WHEN i % 10 = 1 THEN 1 ELSE 0 END,
	CASE WHEN i % 10 = 1 THEN 'partial' WHEN i % 20 = 2 THEN 'reject' ELSE 'allow' END,
	CASE WHEN i % 10 = 1 THEN jsonb_build_array(jsonb_build_object('member', 'u' || i || 'b', 'rule', 'rule-' || ((i / 10) % 5))) END,
	CASE WHEN i % 20 = 2 THEN 10101 ELSE 0 END, '',
	CASE WHEN i % 20 = 2 THEN 'reject-' || (i % 3) ELSE '' END,
	CASE WHEN i % 10 <> 1 AND i % 20 <> 2 AND i % 7 = 3 THEN '[{"rule": "shadow-flood", "kind": "reject"}]'::jsonb END,
	7, false, (ARRAY['iOS', 'Android', 'Web', 'RESTAPI', 'Windows', 'Mac'])[1 + i % 6], '10.0.0.1',
	t.at - interval '15 milliseconds', t.at, t.at + interval '200 microseconds', i
FROM generate_series($1::int8, $2::int8) AS i,
	LATERAL (SELECT now() - ($3::int8 - 1 - i) * ($4::int8 * interval '1 day') / $3::int8 AS at) AS t`

const loadMembersSQL = `
INSERT INTO invitegate.invite_members (event_id, position, member, refused, rule, received_at)
SELECT e.event_id, p.pos, 'u' || e.stream_seq || CASE p.pos WHEN 0 THEN 'a' ELSE 'b' END,
	e.refused_count = 1 AND p.pos = 1,
	CASE WHEN e.refused_count = 1 AND p.pos = 1 THEN e.refused->0->>'rule' END,
	e.received_at
FROM invitegate.invite_events e CROSS JOIN (VALUES (0), (1)) AS p(pos)`

// timeQuery runs q runs times (after one warm-up) and returns its median
// and worst time.
func timeQuery(ctx context.Context, pool *pgxpool.Pool, q projector.Query, runs int) (QueryTiming, error) {
	qt := QueryTiming{Name: q.Name}
	var took []time.Duration
	for i := -1; i < runs; i++ {
		start := time.Now()
		rows, err := pool.Query(ctx, q.SQL)
		if err != nil {
			return qt, fmt.Errorf("query %s: %w", q.Name, err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			return qt, fmt.Errorf("query %s: %w", q.Name, err)
		}
		if i >= 0 {
			took = append(took, time.Since(start))
		}
		qt.Rows = n
	}
	slices.Sort(took)
	qt.Median, qt.Max = took[len(took)/2], took[len(took)-1]
	return qt, nil
}
