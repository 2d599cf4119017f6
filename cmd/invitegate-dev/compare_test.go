package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

func TestPercentilesAndRatios(t *testing.T) {
	t.Parallel()
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	require.Equal(t, 5.0, pct(xs, 0.5))
	require.Equal(t, 10.0, pct(xs, 0.99))
	require.Equal(t, 10.0, pct(xs, 1))
	require.Equal(t, 0.0, pct(nil, 0.99))
	require.Equal(t, 3.0, median([]float64{5, 1, 3}))
	require.Equal(t, 0.0, median(nil))
	require.Equal(t, "0.50", ratio(1, 2))
	require.Equal(t, "-", ratio(1, 0))
}

func reportOf(rate, p99ms float64) *loadgen.Report {
	return &loadgen.Report{AnsweredRate: rate, Attempted: 10, Answered: 10, Latency: loadgen.LatencySummary{P99Ms: p99ms}}
}

func TestReportWritesRatiosAndBars(t *testing.T) {
	t.Parallel()
	r := &report{cfg: config{duration: time.Second, rounds: 3, concurrency: 64, saturation: 256, rate: 2000, e2eRate: 2000, e2eDuration: time.Second},
		started: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), machine: "test box", equivalence: "same",
		latency: map[string][]*loadgen.Report{}}
	for _, x := range []struct {
		name string
		rate float64
		p99  float64
	}{{"bare", 1000, 5}, {"events-off", 1100, 4}, {"events-embedded", 1000, 4}, {"events-embedded-sync", 900, 4},
		{"events-nats-always", 800, 3}, {"events-nats-always-sync", 700, 4.5}, {"opa", 500, 9}} {
		r.targets = append(r.targets, &target{name: x.name, note: x.name})
		idle := 0.05
		if x.name == "events-nats-always-sync" {
			idle = 0.2
		}
		for _, f := range []float64{0.9, 1, 1.1} { // the median round is the middle one
			r.throughput.add(x.name, reportOf(x.rate*f, x.p99), 1e6/x.rate, idle)
			r.latency[x.name] = append(r.latency[x.name], reportOf(x.rate, x.p99*f))
		}
	}
	for name, rate := range map[string]float64{"events-nats-always": 1000, "events-nats-always-sync": 820} {
		r.saturation.add(name, reportOf(rate, 40), 1e6/rate, 0.03)
	}
	r.e2e = &e2eResult{rate: 2000, answered: 2, visible: 2, visibleMs: []float64{10, 20}, projectedMs: []float64{5, 6},
		report: reportOf(2000, 3)}
	out := filepath.Join(t.TempDir(), "r.md")
	require.NoError(t, r.write(out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	s := string(b)
	require.Contains(t, s, "| events-embedded | events-embedded | 1000 | 0.91 | 1.00 | 2.00 | 4.00 | 1000.0 | 5 |")
	require.Contains(t, s, "## Durability at saturation (closed loop, 256 workers, 1s x 3 rounds, median)")
	require.Contains(t, s, "| events-nats-always-sync | 820 | 0.82 | 40.00 | 1219.5 | 3 | 820 |")
	require.Contains(t, s, "- events-embedded-sync / events-off = 0.82 throughput (bar: >= 0.85): NOT met; CPU per callback events-off / events-embedded-sync = 0.82")
	require.Contains(t, s, "- events-nats-always / opa = 1.60 (goal >= 2) at p99 3.00 ms vs 9.00 ms at 2000/s (goal: lower): NOT met")
	require.Contains(t, s, "- events-nats-always-sync / events-nats-always (sync / async durability) = 0.88 throughput at 64 workers (goal >= 0.8): met; machine idle 20% (sync) and 5% (async)")
	require.Contains(t, s, "- the same at saturation, 256 workers = 0.82 throughput (goal >= 0.8): met; machine idle 3% (sync) and 3% (async)")
	require.Contains(t, s, "- events-nats-always-sync p99 at 2000/s = 4.50 ms (goal <= 5 ms): met; async 3.00 ms")
	require.Contains(t, s, "- sync as the default (cost < 10% of throughput and p99 < 5 ms at 2,000/s): NOT met")
	require.Contains(t, s, "| answer -> visible (commit) | 10.0 | 20.0 | 20.0 |")
	require.Contains(t, s, "Bar: p99 < 1 s: met.")
}

// TestNotifyTriggerAnnouncesCommittedRows checks the visibility probe: a
// row's group id arrives only once its transaction commits.
func TestNotifyTriggerAnnouncesCommittedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewMigrated(t)
	listen, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer listen.Close(ctx)
	_, err = listen.Exec(ctx, notifySQL)
	require.NoError(t, err)
	_, err = listen.Exec(ctx, "LISTEN invitegate_visible")
	require.NoError(t, err)
	seen, stop := collectNotifications(ctx, listen)

	writer, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer writer.Close(ctx)
	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
  member_count, refused_count, outcome, error_code, error_info, reject_rule, policy_revision, fail_mode,
  platform, client_ip, received_at, decided_at, stream_seq)
VALUES (gen_random_uuid(), 1, 'a', 'c', '@TGS#g1.r.0', 'Public', 'o', 1, 0, 'allow', 0, '', '', 1, false, '', '', now(), now(), 1)`)
	require.NoError(t, err)
	require.Zero(t, seen(), "nothing before the commit")
	committed := time.Now()
	require.NoError(t, tx.Commit(ctx))
	require.Eventually(t, func() bool { return seen() == 1 }, 10*time.Second, 5*time.Millisecond)
	at := stop()
	require.WithinDuration(t, committed, at["@TGS#g1.r.0"], 5*time.Second)
}
