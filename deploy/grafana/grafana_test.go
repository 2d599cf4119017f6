package grafana_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/deploy/grafana"
	"github.com/invitegate/invitegate/migrations/pgtest"
	"github.com/invitegate/invitegate/projector"
)

// week loads 7 days of invites (one every 10 minutes, ending now) of app
// 1400000000 into a migrated database: members "m<i>a" and "m<i>b", every
// 10th request partial (rule banned, member b), every 20th rejected (rule
// flood), every 7th with a shadow rejection; policy revision 3 by alice.
const week = `
SELECT invitegate.create_daily_partitions((now() AT TIME ZONE 'UTC')::date - 8, (now() AT TIME ZONE 'UTC')::date);
INSERT INTO invitegate.policy_revisions (revision, app, kind, applied, author, reason, changed_at, stored_at)
VALUES (3, '1400000000', 'replaced', true, 'alice', 'ban spammers', now() - interval '3 days', now() - interval '3 days');
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, refused, error_code, error_info, reject_rule, shadow,
	policy_revision, fail_mode, platform, client_ip, received_at, decided_at, stream_seq)
SELECT gen_random_uuid(), 1, '1400000000', 'Group.CallbackBeforeInviteJoinGroup', 'g' || (i % 5),
	(ARRAY['Public', 'Private'])[1 + i % 2], 'op' || (i % 7), 2,
	CASE WHEN i % 10 = 1 THEN 1 ELSE 0 END,
	CASE WHEN i % 10 = 1 THEN 'partial' WHEN i % 20 = 2 THEN 'reject' ELSE 'allow' END,
	CASE WHEN i % 10 = 1 THEN jsonb_build_array(jsonb_build_object('member', 'm' || i || 'b', 'rule', 'banned')) END,
	CASE WHEN i % 20 = 2 THEN 10110 ELSE 0 END, '', CASE WHEN i % 20 = 2 THEN 'flood' ELSE '' END,
	CASE WHEN i % 7 = 3 THEN '[{"rule": "shadow-flood", "kind": "reject"}]'::jsonb END,
	3, false, (ARRAY['iOS', 'Android', 'Web'])[1 + i % 3], '10.0.0.1',
	now() - i * interval '10 minutes', now() - i * interval '10 minutes', i
FROM generate_series(0, 7 * 144 - 1) AS i;
INSERT INTO invitegate.invite_members (event_id, position, member, refused, rule, received_at)
SELECT e.event_id, p.pos, 'm' || e.stream_seq || CASE p.pos WHEN 0 THEN 'a' ELSE 'b' END,
	e.refused_count = 1 AND p.pos = 1, CASE WHEN e.refused_count = 1 AND p.pos = 1 THEN 'banned' END, e.received_at
FROM invitegate.invite_events e CROSS JOIN (VALUES (0), (1)) AS p(pos);`

type bundle struct {
	pool *pgxpool.Pool
	now  time.Time
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewMigrated(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, week)
	require.NoError(t, err)
	require.NoError(t, projector.RebuildRollups(ctx, pool))
	return &bundle{pool: pool, now: time.Now()}
}

// asAnalyst runs sql as the read-only role invitegate_analyst, in a
// transaction rolled back afterwards, and returns the rows' values.
func (b *bundle) asAnalyst(t *testing.T, sql string) ([][]any, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, "SET LOCAL ROLE invitegate_analyst")
	require.NoError(t, err)
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
}

// num reads a numeric column (sum() of bigint is numeric in PostgreSQL).
func num(t *testing.T, v any) float64 {
	t.Helper()
	switch n := v.(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	case pgtype.Numeric:
		f, err := n.Float64Value()
		require.NoError(t, err)
		return f.Float64
	}
	t.Fatalf("not a number: %T %v", v, v)
	return 0
}

func (b *bundle) expansion(vars map[string]string) grafana.Expansion {
	x := grafana.Expansion{From: b.now.Add(-7 * 24 * time.Hour), To: b.now,
		Vars: map[string][]string{"app": {"1400000000", "1400000001"}, "member": {""}, "operator": {""}, "group": {""}}}
	for k, v := range vars {
		x.Vars[k] = []string{v}
	}
	return x
}

func TestEveryQueryRunsAsAnalyst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	qs, err := grafana.TrendsQueries()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, q := range qs {
		names[q.Name] = true
		sql, err := grafana.Expand(q.SQL, b.expansion(map[string]string{"member": "m11b"}))
		require.NoError(t, err, q.Name)
		rows, err := b.asAnalyst(t, sql)
		require.NoError(t, err, "%s:\n%s", q.Name, sql)
		require.NotEmpty(t, rows, "%s:\n%s", q.Name, sql)
		if q.Format == "time_series" {
			require.Greater(t, num(t, rows[0][0]), float64(b.now.Add(-8*24*time.Hour).Unix()),
				"%s: first column is the bucket's Unix time", q.Name)
		}
	}
	for _, want := range []string{"variable: app", "annotation: Policy changes", "panel: Invites per hour by platform",
		"panel: Invites per hour by group type", "panel: Refusal and rejection rates",
		"panel: Refusals by rule per day, enforce and shadow", "panel: Rules over the range: enforce against shadow",
		"panel: Top inviters by day", "panel: Decision lookup", "panel: Policy revisions in the range"} {
		require.True(t, names[want], "missing %s", want)
	}
}

func TestTrendFigures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := func(title string) [][]any {
		t.Helper()
		qs, err := grafana.TrendsQueries()
		require.NoError(t, err)
		for _, q := range qs {
			if q.Name == "panel: "+title {
				sql, err := grafana.Expand(q.SQL, b.expansion(nil))
				require.NoError(t, err)
				rows, err := b.asAnalyst(t, sql)
				require.NoError(t, err)
				return rows
			}
		}
		t.Fatalf("no panel %q", title)
		return nil
	}
	// 1,008 requests over the week. The range starts a moment after the
	// oldest, received 7 days before setup, so the hour bucket holding it
	// (at most 6 requests) starts before the range and is left out.
	var requests float64
	for _, r := range run("Invites per hour by platform") {
		requests += num(t, r[2])
	}
	require.InDelta(t, 7*144-3, requests, 3)

	// The rules table covers every UTC day the range touches: the whole week.
	rules := map[string][]float64{}
	for _, r := range run("Rules over the range: enforce against shadow") {
		rules[r[0].(string)] = []float64{num(t, r[1]), num(t, r[2]), num(t, r[3]), num(t, r[4])}
	}
	require.Equal(t, []float64{101, 0, 0, 0}, rules["banned"])       // i%10 = 1
	require.Equal(t, []float64{0, 51, 0, 0}, rules["flood"])         // i%20 = 2
	require.Equal(t, []float64{0, 0, 0, 144}, rules["shadow-flood"]) // i%7 = 3

	top := run("Top inviters by day")
	require.LessOrEqual(t, len(top), 8*10)
	require.Equal(t, "1400000000", top[0][1])
}

func TestDecisionLookup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var lookup string
	qs, err := grafana.TrendsQueries()
	require.NoError(t, err)
	for _, q := range qs {
		if q.Name == "panel: Decision lookup" {
			lookup = q.SQL
		}
	}
	find := func(vars map[string]string) [][]any {
		t.Helper()
		sql, err := grafana.Expand(lookup, b.expansion(vars))
		require.NoError(t, err)
		rows, err := b.asAnalyst(t, sql)
		require.NoError(t, err, sql)
		return rows
	}
	// time, member, outcome, rule, operator, group_id, app, policy_revision, policy_author, ...
	refused := find(map[string]string{"member": "m11b"})
	require.Len(t, refused, 1)
	require.Equal(t, []any{"m11b", "refused", "banned", "op4", "g1", "1400000000", int64(3), "alice", "ban spammers"},
		refused[0][1:10])
	rejected := find(map[string]string{"member": "m22a"})
	require.Len(t, rejected, 1)
	require.Equal(t, []any{"rejected", "flood"}, rejected[0][2:4])
	allowed := find(map[string]string{"member": "m11a"})
	require.Equal(t, "allowed", allowed[0][2])
	require.Nil(t, allowed[0][3])

	// op3: i%7 = 3, two members each.
	byOperator := find(map[string]string{"operator": "op3"})
	require.Len(t, byOperator, 2*144)
	narrowed := find(map[string]string{"operator": "op3", "group": "g1"})
	require.NotEmpty(t, narrowed)
	require.Less(t, len(narrowed), len(byOperator))
	for _, r := range narrowed {
		require.Equal(t, "g1", r[5])
	}
	require.Empty(t, find(nil), "nothing given: no rows")
	require.Empty(t, find(map[string]string{"member": "m11b' OR 'x' = 'x"}), "a value is a string, never SQL")
}

func TestAnalystCannotWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, sql := range []string{
		"DELETE FROM invitegate.invite_events",
		"INSERT INTO invitegate.policy_revisions (revision, app, kind, applied, changed_at, stored_at) VALUES (9, 'a', 'replaced', true, now(), now())",
		"SELECT invitegate.drop_partitions(now())",
	} {
		_, err := b.asAnalyst(t, sql)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, sql)
		require.Equal(t, "42501", pgErr.Code, "%s: %v", sql, err) // insufficient_privilege
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	x := grafana.Expansion{From: from, To: from.Add(time.Hour), Vars: map[string][]string{
		"app": {"a", "b"}, "member": {"O'Brien"}, "n": {"5"}}}
	got, err := grafana.Expand(`SELECT $__timeGroupAlias(hour, '1h'), $__timeGroup(day,'1d') WHERE $__timeFilter(hour)
AND app IN (${app:sqlstring}) AND app IN ($app) AND m = ${member:sqlstring} AND k < $n AND t > $__timeFrom() AND t < $__timeTo()`, x)
	require.NoError(t, err)
	require.Equal(t, `SELECT floor(extract(epoch from hour)/3600)*3600 AS "time", floor(extract(epoch from day)/86400)*86400 WHERE hour BETWEEN '2026-12-01T00:00:00Z' AND '2026-12-01T01:00:00Z'
AND app IN ('a','b') AND app IN ('a','b') AND m = 'O''Brien' AND k < 5 AND t > '2026-12-01T00:00:00Z' AND t < '2026-12-01T01:00:00Z'`, got)

	for _, bad := range []string{"$nope", "$__timeFilter()", "$__unknown(x)", "$__timeGroup(hour, '1x')", "${app:csv}", "$__interval"} {
		_, err := grafana.Expand(bad, x)
		require.ErrorIs(t, err, grafana.ErrExpand, bad)
	}
}

// TestDashboardFile checks the JSON beside the package is the one embedded
// and names its data source through the variable.
func TestDashboardFile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(grafana.TrendsFile)
	require.NoError(t, err)
	var d struct {
		UID    string
		Panels []struct {
			ID         int
			Type       string
			Title      string
			Datasource struct{ Type, UID string }
			GridPos    struct{ X, W int }
		}
	}
	require.NoError(t, json.Unmarshal(data, &d))
	require.Equal(t, "invitegate-trends", d.UID)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		require.False(t, ids[p.ID], "duplicate panel id %d", p.ID)
		ids[p.ID] = true
		require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		if p.Type != "row" {
			require.Equal(t, "${datasource}", p.Datasource.UID, p.Title)
			require.Equal(t, "grafana-postgresql-datasource", p.Datasource.Type, p.Title)
		}
	}
	require.False(t, strings.Contains(string(data), "invitegate_test_"), "no test database names")
}
