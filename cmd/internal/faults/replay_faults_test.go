//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

// Scenario: spool-replay-late. An ingress (sync durability) spools a NATS
// outage, is stopped, and replays its spool after NATS is back until part
// of the spool is acknowledged; then NATS is frozen (the batch in flight
// reaches the server, its PubAck never comes back) and the ingress is
// killed. It starts again after the stream's duplicate window: the
// acknowledged records must not come back, the unacknowledged ones (the
// batch in flight included, stored again past the window) must be stored
// once, and the statistics must count every event once.
func TestFaultSpoolReplayLate(t *testing.T) {
	t.Parallel()
	const window = 12 * time.Second // twice the retry horizon of a 1 s ack timeout and 5 s backoff
	streamArgs := []string{"--events-duplicate-window", window.String()}
	ingressArgs := append([]string{"--event-durability", "sync", "--outbox-ack-timeout", "1s",
		"--outbox-batch-events", "16"}, streamArgs...)
	c := newCluster(t, clusterOptions{ingressArgs: ingressArgs, projectorArgs: streamArgs})
	load := startLoadTo(t, c.ctx, loadgen.Config{URL: c.ingress.Callback, Rate: float64(loadRate),
		Duration: 45 * time.Second, Operators: 100})
	c.waitStored(2 * loadRate)
	var ph phases

	// A NATS outage: every answered callback goes to the spool, fsynced.
	ph.mark("nats killed")
	require.NoError(t, c.nats.Kill())
	hold(c.ctx, 3*time.Second)
	ph.mark("ingress terminated")
	require.NoError(t, c.ingress.Terminate(time.Minute), c.ingress.Tail(4096))
	spooled := c.spoolBytes()
	require.Positive(t, spooled, "the outage went to the spool\n%s", c.ingress.Tail(4096))
	require.NoError(t, c.nats.Start(c.ctx))

	// Replay one batch at a time until part of the spool is acknowledged.
	c.opts.ingressArgs = append(slices.Clone(ingressArgs), "--outbox-max-in-flight", "1")
	ph.mark("ingress replaying")
	c.startIngress()
	require.Eventually(t, func() bool { return c.ackBytes() > 0 }, time.Minute, time.Millisecond,
		"spool acknowledged in part\n%s", c.ingress.Tail(4096))
	ph.mark("nats paused")
	require.NoError(t, c.nats.Pause())
	acked, left := c.ackBytes()/12, c.spoolBytes()
	ph.mark("ingress killed")
	require.NoError(t, c.ingress.Kill())
	require.NoError(t, c.nats.Resume())
	logf("faults: spool-replay-late: %d spool bytes after the outage; killed with %d records acknowledged and %d segment bytes left",
		spooled, acked, left)
	require.Positive(t, left, "part of the spool is still unacknowledged")

	hold(c.ctx, window+3*time.Second) // past the duplicate window
	c.opts.ingressArgs = ingressArgs
	ph.mark("ingress restarted")
	c.startIngress()
	ph.mark("ingress listening")
	records := load.wait(t)
	ph.logTimeouts(t, records)
	res := c.settle(records, 0)
	verdict(t, "spool-replay-late", res, expectation{unanswered: downtimeErrors})
	require.Equal(t, res.Answered, res.Stored, "stored=answered")
	c.requireTrueStats()
}

// phases are the moments a scenario changed something, to place the
// requests that timed out.
type phases []struct {
	name string
	at   time.Time
}

func (p *phases) mark(name string) {
	*p = append(*p, struct {
		name string
		at   time.Time
	}{name, time.Now()})
}

// logTimeouts logs each request that timed out with the last phase before
// it was sent.
func (p phases) logTimeouts(t *testing.T, records []loadgen.Record) {
	for _, r := range records {
		if r.ErrorKind != loadgen.ErrTimeout {
			continue
		}
		last := "before the first phase"
		for _, ph := range p {
			if !ph.at.After(r.Sent) {
				last = fmt.Sprintf("%s after %q", r.Sent.Sub(ph.at).Round(time.Millisecond), ph.name)
			}
		}
		t.Logf("request %s timed out: sent %s (%s): %s", r.Key, r.Sent.Format("15:04:05.000"), last, r.Error)
	}
}

// requireTrueStats waits until the aggregator's top counters of every
// operator (operator_invites_24h) and its stored group sizes equal what the
// stored events say, each event counted once.
func (c *cluster) requireTrueStats() {
	c.t.Helper()
	var diff string
	ok := func() bool {
		conn, err := pgx.Connect(c.ctx, c.dsn)
		require.NoError(c.t, err)
		defer conn.Close(context.WithoutCancel(c.ctx))
		diff = ""
		for _, q := range []struct{ name, truth, stats string }{
			{"operator_invites_24h", `SELECT operator, sum(member_count) FROM invitegate.invite_events GROUP BY operator`,
				`SELECT key, value FROM invitegate.stats_counters WHERE stat = 'operator_invites_24h'`},
			{"group_size", `SELECT group_id, sum(d) FROM (
				SELECT group_id, CASE WHEN outcome <> 'reject' THEN member_count - refused_count ELSE 0 END AS d FROM invitegate.invite_events
				UNION ALL
				SELECT group_id, CASE WHEN kind = 'member_exited' THEN -cardinality(members)
					WHEN change_type <> 'Invited' THEN cardinality(members) ELSE 0 END FROM invitegate.membership_events
				) x GROUP BY group_id HAVING sum(d) <> 0`,
				`SELECT group_id, size FROM invitegate.group_sizes WHERE size <> 0`},
		} {
			truth, stats := queryCounts(c, conn, q.truth), queryCounts(c, conn, q.stats)
			if !maps.Equal(truth, stats) {
				diff += fmt.Sprintf("%s: %d keys stored, %d counted; first differences %v\n", q.name, len(truth), len(stats), firstDiffs(truth, stats))
			}
		}
		return diff == ""
	}
	for deadline := time.Now().Add(time.Minute); !ok() && time.Now().Before(deadline); {
		hold(c.ctx, time.Second)
	}
	require.Empty(c.t, diff, "stats differ from the stored events")
	dups, err := scrapeSum(c.ctx, c.projector, "invitegate_stats_duplicate_events_total")
	require.NoError(c.t, err)
	stored, err := scrapeSum(c.ctx, c.projector, "invitegate_projector_duplicates_total")
	require.NoError(c.t, err)
	logf("faults: spool-replay-late: stats equal the stored events; copies skipped: %.0f by the projector, %.0f by the stats aggregator", stored, dups)
}

func queryCounts(c *cluster, conn *pgx.Conn, q string) map[string]int64 {
	c.t.Helper()
	rows, err := conn.Query(c.ctx, q)
	require.NoError(c.t, err)
	out := map[string]int64{}
	for rows.Next() {
		var (
			k string
			v int64
		)
		require.NoError(c.t, rows.Scan(&k, &v))
		out[k] = v
	}
	require.NoError(c.t, rows.Err())
	return out
}

func firstDiffs(want, got map[string]int64) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] && len(out) < 5 {
			out = append(out, fmt.Sprintf("%s: %d events, %d counted", k, want[k], got[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok && len(out) < 10 {
			out = append(out, fmt.Sprintf("%s: no events, %d counted", k, got[k]))
		}
	}
	return out
}
