package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// e2eResult is the end-to-end run: answer to row visible.
type e2eResult struct {
	rate               float64
	answered, visible  int
	visibleMs          []float64 // per answered invite, from answer to NOTIFY received (commit)
	projectedMs        []float64 // from answer to projected_at (transaction start): a lower bound
	report             *loadgen.Report
	notVisibleExamples []string
}

// notifySQL makes every inserted invite row announce its group id when its
// transaction commits. It is added to the benchmark's own database only.
const notifySQL = `
CREATE FUNCTION bench_notify_visible() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('invitegate_visible', NEW.group_id); RETURN NULL; END $$;
CREATE TRIGGER bench_notify_visible AFTER INSERT ON invitegate.invite_events
FOR EACH ROW EXECUTE FUNCTION bench_notify_visible();`

// endToEnd runs `invitegate run` (embedded JetStream, sync always) against a
// fresh database at e2eRate and measures, for every answered invite, the
// time from its answer to its row being visible.
func endToEnd(ctx context.Context, e *env, c config, stdout io.Writer) (*e2eResult, error) {
	dsn := pgtest.URL(pgtest.RandomName("invitegate_bench_"))
	if err := migrations.EnsureDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	defer func() { _ = migrations.DropDatabase(context.WithoutCancel(ctx), dsn) }()
	if _, err := migrations.Up(ctx, dsn); err != nil {
		return nil, err
	}
	listen, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("e2e: connect: %w", err)
	}
	defer listen.Close(context.WithoutCancel(ctx))
	if _, err := listen.Exec(ctx, notifySQL); err != nil {
		return nil, fmt.Errorf("e2e: notify trigger: %w", err)
	}
	if _, err := listen.Exec(ctx, "LISTEN invitegate_visible"); err != nil {
		return nil, fmt.Errorf("e2e: listen: %w", err)
	}
	ig, err := faults.StartInvitegate(ctx, e.bins.Invitegate, "run", nil, "--sdkappid", e.appID, "--policy", e.policy,
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", filepath.Join(e.tmp, "e2e"),
		"--database-url", dsn, "--embedded-nats-sync-always")
	if err != nil {
		return nil, err
	}
	defer func() { _ = ig.Terminate(time.Minute) }()

	seen, stopListen := collectNotifications(ctx, listen)
	record := filepath.Join(e.tmp, "e2e.ndjson")
	logf(stdout, "end to end: invitegate run at %.0f/s for %s", c.e2eRate, c.e2eDuration)
	lr, err := loadgen.Run(ctx, loadgen.Config{URL: ig.Callback, Rate: c.e2eRate, Concurrency: 256,
		Duration: c.e2eDuration, BannedShare: 0.05, RecordFile: record})
	if err != nil {
		return nil, fmt.Errorf("e2e load: %w", err)
	}
	records, err := readRecords(record)
	if err != nil {
		return nil, err
	}
	res := &e2eResult{rate: c.e2eRate, report: lr}
	waitVisible(ctx, seen, records, 30*time.Second)
	visible := stopListen()
	if err := res.compute(ctx, dsn, records, visible); err != nil {
		return nil, err
	}
	logf(stdout, "end to end: %d answered, %d visible; answer -> visible p50 %.1fms p99 %.1fms max %.1fms",
		res.answered, res.visible, pct(res.visibleMs, 0.50), pct(res.visibleMs, 0.99), pct(res.visibleMs, 1))
	return res, nil
}

// collectNotifications records when each group id's row became visible,
// until stop is called; stop returns the times.
func collectNotifications(ctx context.Context, conn *pgx.Conn) (seen func() int, stop func() map[string]time.Time) {
	var mu sync.Mutex
	at := map[string]time.Time{}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(lctx)
			if err != nil {
				return
			}
			now := time.Now()
			mu.Lock()
			if _, dup := at[n.Payload]; !dup {
				at[n.Payload] = now
			}
			mu.Unlock()
		}
	}()
	seen = func() int { mu.Lock(); defer mu.Unlock(); return len(at) }
	stop = func() map[string]time.Time { cancel(); <-done; return at }
	return seen, stop
}

// waitVisible waits until every answered invite was announced, or limit.
func waitVisible(ctx context.Context, seen func() int, records []loadgen.Record, limit time.Duration) {
	want := 0
	for i := range records {
		if records[i].Answered() && records[i].Command == loadgen.CommandBeforeInviteJoinGroup {
			want++
		}
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for seen() < want {
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (r *e2eResult) compute(ctx context.Context, dsn string, records []loadgen.Record, visible map[string]time.Time) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("e2e: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT group_id, projected_at FROM invitegate.invite_events`)
	if err != nil {
		return fmt.Errorf("e2e: projected_at: %w", err)
	}
	projected := map[string]time.Time{}
	for rows.Next() {
		var g string
		var t time.Time
		if err := rows.Scan(&g, &t); err != nil {
			return fmt.Errorf("e2e: projected_at: %w", err)
		}
		projected[g] = t
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("e2e: projected_at: %w", err)
	}
	for i := range records {
		rec := &records[i]
		if !rec.Answered() {
			continue
		}
		r.answered++
		answeredAt := rec.Sent.Add(time.Duration(rec.ServiceUs) * time.Microsecond)
		if v, ok := visible[rec.GroupID]; ok {
			r.visible++
			r.visibleMs = append(r.visibleMs, ms(v.Sub(answeredAt)))
		} else if len(r.notVisibleExamples) < 5 {
			r.notVisibleExamples = append(r.notVisibleExamples, rec.Key)
		}
		if p, ok := projected[rec.GroupID]; ok {
			r.projectedMs = append(r.projectedMs, ms(p.Sub(answeredAt)))
		}
	}
	slices.Sort(r.visibleMs)
	slices.Sort(r.projectedMs)
	return nil
}

func readRecords(path string) ([]loadgen.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	defer f.Close()
	return loadgen.ReadRecords(f)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct is the q-quantile of sorted xs (nearest rank).
func pct(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(q*float64(len(xs))+0.5) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
