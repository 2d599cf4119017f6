//go:build faults || soak || cluster

package faults_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

// loadRun is loadgen running in the background against the cluster.
type loadRun struct {
	done   chan struct{}
	rep    *loadgen.Report
	err    error
	record string
}

// startLoad sends open-loop load at rate for d to the ingress's callback
// URL, recording every request. Membership callbacks are a tenth of it.
func (c *cluster) startLoad(rate int, d time.Duration) *loadRun {
	return startLoadTo(c.t, c.ctx, loadgen.Config{URL: c.ingress.Callback, Rate: float64(rate), Duration: d})
}

func startLoadTo(t *testing.T, ctx context.Context, cfg loadgen.Config) *loadRun {
	l := &loadRun{done: make(chan struct{}), record: filepath.Join(t.TempDir(), "record.ndjson")}
	cfg.RecordFile = l.record
	cfg.Concurrency = max(cfg.Concurrency, 128)
	cfg.BannedShare, cfg.MembershipShare = 0.05, 0.1
	go func() {
		defer close(l.done)
		l.rep, l.err = loadgen.Run(ctx, cfg)
	}()
	return l
}

// wait waits for the run's end and returns its records.
func (l *loadRun) wait(t *testing.T) []loadgen.Record {
	t.Helper()
	<-l.done
	require.NoError(t, l.err)
	f, err := os.Open(l.record)
	require.NoError(t, err)
	defer f.Close()
	recs, err := loadgen.ReadRecords(f)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	return recs
}

// expectation is what a scenario tolerates.
type expectation struct {
	// lostAllowed: lost events are reported, not failed (ingress SIGKILL).
	lostAllowed bool
	// unanswered: the error kinds a request may end with (a process being
	// down refuses connections); nil: every request must be answered.
	unanswered []string
}

// settle polls the checker until nothing is lost any more, the stored set
// has not changed for quiet (0: no such limit), or the drain limit passes,
// and returns the last result.
func (c *cluster) settle(records []loadgen.Record, quiet time.Duration) faults.Result {
	c.t.Helper()
	return c.settleWithin(records, quiet, drainLimit)
}

// settleWithin is settle with its own drain limit.
func (c *cluster) settleWithin(records []loadgen.Record, quiet, limit time.Duration) faults.Result {
	c.t.Helper()
	stop := time.Now().Add(limit)
	var last faults.Result
	changed := time.Now()
	for {
		res, err := faults.Check(c.ctx, c.dsn, records)
		require.NoError(c.t, err)
		if res.Stored != last.Stored || res.Recovered != last.Recovered {
			last, changed = res, time.Now()
		}
		if res.Lost == 0 || (quiet > 0 && time.Since(changed) >= quiet) || time.Now().After(stop) {
			return res
		}
		hold(c.ctx, time.Second)
	}
}

// verdict prints the checker line and fails the test on what the scenario
// does not tolerate.
func verdict(t *testing.T, scenario string, res faults.Result, exp expectation) {
	t.Helper()
	logf("%s", res.Line(scenario))
	t.Logf("%s: %s", scenario, res.Detail())
	require.Positive(t, res.Answered, "no request answered")
	if !exp.lostAllowed {
		require.Zero(t, res.Lost, "lost: %q", res.Examples)
	}
	require.Zero(t, res.Duplicated, "duplicated: %q", res.Examples)
	require.Zero(t, res.Unexpected, "unexpected: %q", res.Examples)
	for kind, n := range res.Unanswered {
		require.Contains(t, exp.unanswered, kind, "%d requests unanswered (%s) in %s", n, kind, scenario)
	}
}

// panicWatch counts output lines that tell of a panic, by process.
type panicWatch struct {
	mu    sync.Mutex
	lines []string
}

func (w *panicWatch) watch(name string) func(string) {
	return func(line string) {
		if strings.Contains(line, "panic") || strings.Contains(line, "goroutine ") && strings.Contains(line, "[running]") {
			w.mu.Lock()
			w.lines = append(w.lines, name+": "+line)
			w.mu.Unlock()
		}
	}
}

func (w *panicWatch) check(t *testing.T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lines) > 0 {
		t.Errorf("panics in child processes:\n%s", strings.Join(w.lines, "\n"))
	}
}

// scrapeSum reads metric name (summed over labels) from a child's /metrics.
func scrapeSum(ctx context.Context, ig *faults.Invitegate, name string) (float64, error) {
	m, err := faults.Scrape(ctx, ig.MetricsURL())
	if err != nil {
		return 0, err
	}
	return m.Sum(name), nil
}
