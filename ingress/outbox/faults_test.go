package outbox

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func (h harness) memBytes() int64 {
	h.o.mu.Lock()
	defer h.o.mu.Unlock()
	return h.o.memBytes
}

// NATS down: past MaxMemoryBytes batches go to the spool; once NATS is up
// the spool is replayed and deleted, every event stored once.
func TestSpillsToSpoolAndReplaysOnReconnect(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true})
	cfg := testConfig(t.TempDir())
	cfg.MaxBatchBytes = 4 << 10
	cfg.MaxMemoryBytes = 32 << 10
	cfg.SpoolSegmentBytes = 64 << 10
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))

	ids := enqueueN(h.o, 3000)
	require.Eventually(t, func() bool { return len(segmentFiles(t, cfg.DataDir)) >= 3 }, 10*time.Second, 5*time.Millisecond)
	require.LessOrEqual(t, h.memBytes(), cfg.MaxMemoryBytes+int64(cfg.MaxBatchBytes)*6, "memory stays bounded")
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(h.o.m.spoolEvents)+testutil.ToFloat64(h.o.m.outboxEvents) == 3000
	}, 10*time.Second, 5*time.Millisecond, "every event is in memory or in the spool")
	require.Positive(t, testutil.ToFloat64(h.o.m.spoolBytes))

	env.ns.start()
	h.waitPublished(t, 3000, 30*time.Second)
	requireExactlyOnce(t, readStream(t, env.js), ids)
	require.Eventually(t, func() bool { return len(segmentFiles(t, cfg.DataDir)) == 0 }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, testutil.ToFloat64(h.o.m.spoolEvents))
	require.Zero(t, testutil.ToFloat64(h.o.m.spoolBytes))
	require.Zero(t, h.dropped(DropSpoolFull)+h.dropped(DropSpoolBacklog))
}

// Stop with NATS down leaves everything (spilled or in memory) in the spool;
// a new outbox on the same DataDir publishes it all once NATS is back.
func TestStopWithNATSDownThenRestartPublishesSpool(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true})
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxBatchBytes = 4 << 10
	cfg.MaxMemoryBytes = 64 << 10
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))
	ids := enqueueN(h.o, 2000)
	require.Eventually(t, func() bool { return len(segmentFiles(t, dir)) > 0 }, 10*time.Second, 5*time.Millisecond)

	start := time.Now()
	require.NoError(t, h.o.Stop(t.Context()))
	require.Less(t, time.Since(start), cfg.FlushTimeout, "Stop does not wait for a NATS that is down")
	require.Equal(t, 2000, spoolEvents(t, dir))
	require.Contains(t, h.logs.String(), "unacknowledged events spooled")

	env.ns.start()
	h2 := env.harness(t, cfg)
	require.NoError(t, h2.o.Start(t.Context()))
	require.Contains(t, h2.logs.String(), "replaying spool")
	h2.waitPublished(t, 2000, 30*time.Second)
	requireExactlyOnce(t, readStream(t, env.js), ids)
	require.NoError(t, h2.o.Stop(t.Context()))
	requireSpoolEmpty(t, dir)
}

// A full spool drops whole batches, counted and logged; every event is
// either published or counted as dropped.
func TestSpoolFullDropsWithCountAndLog(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true})
	cfg := testConfig(t.TempDir())
	cfg.MaxBatchBytes = 4 << 10
	cfg.MaxMemoryBytes = 64 << 10
	cfg.SpoolMaxBytes = 64 << 10
	cfg.SpoolSegmentBytes = 16 << 10
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))

	const n = 2000 // ~700 KiB of events for 128 KiB of memory and spool
	ids := enqueueN(h.o, n)
	require.Eventually(t, func() bool { return h.dropped(DropSpoolFull) > 0 }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, h.logs.String(), `msg="events dropped" reason=spool_full`)
	require.LessOrEqual(t, testutil.ToFloat64(h.o.m.spoolBytes), float64(cfg.SpoolMaxBytes))

	env.ns.start()
	dropped := func() int { return h.dropped(DropSpoolFull) + h.dropped(DropSpoolBacklog) }
	require.Eventually(t, func() bool { return h.published()+dropped() == n }, 30*time.Second, 5*time.Millisecond,
		"published %d + dropped %d != %d", h.published(), dropped(), n)
	sc := readStream(t, env.js)
	require.Len(t, sc.events, h.published())
	for _, id := range ids {
		require.LessOrEqual(t, sc.events[id], 1)
	}
}

// Damaged spool data (a flipped byte, a torn tail) is counted, logged and
// skipped; every other spooled event is published.
func TestCorruptSpoolRecordsAreSkipped(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true})
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxBatchEvents = 10
	cfg.SpoolSegmentBytes = 16 << 10
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))
	ids := enqueueN(h.o, 300)
	require.NoError(t, h.o.Stop(t.Context()))
	files := segmentFiles(t, dir)
	require.GreaterOrEqual(t, len(files), 3)

	lost := corruptRecord(t, files[0], 1)
	tornTail(t, files[len(files)-1])

	env.ns.start()
	h2 := env.harness(t, cfg)
	require.NoError(t, h2.o.Start(t.Context()))
	require.Equal(t, 2.0, testutil.ToFloat64(h2.o.m.spoolCorrupt))
	require.Contains(t, h2.logs.String(), "corrupt spool record skipped")
	var kept []string
	for _, id := range ids {
		if !lost[id] {
			kept = append(kept, id)
		}
	}
	require.Len(t, kept, 300-len(lost))
	h2.waitPublished(t, len(kept), 30*time.Second)
	requireExactlyOnce(t, readStream(t, env.js), kept)
	require.NoError(t, h2.o.Stop(t.Context()))
	requireSpoolEmpty(t, dir)
}

// corruptRecord flips a byte in the payload of record i of the segment at
// path and returns the ids of the events it held.
func corruptRecord(t *testing.T, path string, i int) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	refs, bad := scanSegment(data)
	require.Empty(t, bad)
	ref := refs[i]
	payload, err := checkRecord(data[ref.off:])
	require.NoError(t, err)
	b, err := decodeRecord(payload)
	require.NoError(t, err)
	events, badLines := decider.DecodeBatch(b.data)
	require.Empty(t, badLines)
	lost := map[string]bool{}
	for _, ev := range events {
		lost[ev.ID] = true
	}
	data[ref.off+int64(ref.size)-2] ^= 0x55
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return lost
}

// tornTail appends the first half of a record, as a crash mid-write leaves it.
func tornTail(t *testing.T, path string) {
	t.Helper()
	rec := appendRecord(nil, &batch{id: "torn", subject: "invitegate.events.a.invite", events: 1, data: []byte("{}\n")})
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(rec[:len(rec)/2])
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// producer enqueues events at a steady pace until stopped.
type producer struct {
	ids  chan []string
	stop chan struct{}
	n    chan int // running count, offered after each tick
}

func startProducer(h harness, perTick int, every time.Duration) *producer {
	p := &producer{ids: make(chan []string, 1), stop: make(chan struct{}), n: make(chan int, 1)}
	go func() {
		var ids []string
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				p.ids <- ids
				return
			case <-tick.C:
			}
			for j := range perTick {
				ev := testEvent("app"+strconv.Itoa(j%2), kinds[(i+j)%3], i)
				ids = append(ids, ev.ID)
				h.o.Enqueue(ev)
			}
			select {
			case <-p.n:
			default:
			}
			p.n <- len(ids)
		}
	}()
	return p
}

// waitCount waits until the producer has enqueued at least n events.
func (p *producer) waitCount(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case got := <-p.n:
			if got >= n {
				return
			}
		case <-deadline:
			t.Fatalf("producer did not reach %d events in %s", n, within)
		}
	}
}

func (p *producer) finish() []string {
	close(p.stop)
	return <-p.ids
}

// The long one: NATS down for 30 s under continuous load (memory bound hit,
// spool used), restarted on the same store: nothing lost, nothing stored
// twice (all inside the duplicate window).
func TestNATSOutageUnderLoadLosesNothing(t *testing.T) {
	t.Parallel()
	const (
		rate   = 2000 // events/s: 4 every 2 ms
		outage = 30 * time.Second
	)
	env := setup(t, setupOpts{SyncAlways: true})
	cfg := testConfig(t.TempDir())
	cfg.MaxBatchBytes = 64 << 10
	cfg.MaxMemoryBytes = 1 << 20
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))

	p := startProducer(h, 4, 2*time.Millisecond)
	p.waitCount(t, rate, 20*time.Second)
	h.waitPublished(t, rate/2, 20*time.Second)
	env.ns.stop()
	before := h.published()
	p.waitCount(t, rate+rate*int(outage/time.Second), 2*outage)
	require.Positive(t, testutil.ToFloat64(h.o.m.spoolBytes), "the outage outgrew memory")
	require.LessOrEqual(t, h.published()-before, h.o.cfg.MaxInFlight*h.o.cfg.MaxBatchEvents,
		"at most the acks already on their way when the server stopped")

	env.ns.start()
	p.waitCount(t, 2*rate+rate*int(outage/time.Second), 30*time.Second)
	ids := p.finish()
	h.waitPublished(t, len(ids), 60*time.Second)
	require.NoError(t, h.o.Stop(t.Context()))

	requireExactlyOnce(t, readStream(t, env.js), ids)
	requireSpoolEmpty(t, cfg.DataDir)
	for _, reason := range []string{DropSpoolFull, DropSpoolBacklog, DropSpoolError, DropStopped} {
		require.Zero(t, h.dropped(reason), reason)
	}
	t.Logf("%d events, %d published, batches ok %v duplicate %v error %v", len(ids), h.published(),
		testutil.ToFloat64(h.o.m.batches.WithLabelValues(resultOK)),
		testutil.ToFloat64(h.o.m.batches.WithLabelValues(resultDuplicate)),
		testutil.ToFloat64(h.o.m.batches.WithLabelValues(resultError)))
}

// A spool that cannot be written drops the batches, counted and logged.
func TestSpoolWriteErrorDropsWithCountAndLog(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true}) // never started: everything must go to the spool
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxBatchBytes = 4 << 10
	cfg.MaxMemoryBytes = 16 << 10
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))
	require.NoError(t, os.RemoveAll(dir+"/spool"))
	require.NoError(t, os.WriteFile(dir+"/spool", nil, 0o644)) // a file where the directory was

	enqueueN(h.o, 500)
	require.Eventually(t, func() bool { return h.dropped(DropSpoolError) > 0 }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, h.logs.String(), "reason=spool_error")
}

// Enqueued before Start with a tiny memory bound: the spool writer is not
// running, so past its backlog allowance batches are dropped and counted;
// Stop spools the rest.
func TestSpoolBacklogDropsWithCount(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true})
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxMemoryBytes = 1 << 20
	h := env.harness(t, cfg)
	const n = 40000 // ~14 MiB of events: 1 MiB in memory, 8 MiB queued, the rest dropped
	enqueueN(h.o, n)
	dropped := h.dropped(DropSpoolBacklog)
	require.Positive(t, dropped)
	require.Contains(t, h.logs.String(), "reason=spool_backlog")
	require.NoError(t, h.o.Stop(t.Context()))
	require.Equal(t, n-dropped, spoolEvents(t, dir))
}

func TestStartFailsWithoutUsableDataDir(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true})
	file := t.TempDir() + "/file"
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	h := env.harness(t, testConfig(file))
	require.ErrorContains(t, h.o.Start(t.Context()), "create spool dir")

	h2 := newHarness(t, testConfig(t.TempDir()), nil, nil)
	require.ErrorContains(t, h2.o.Start(t.Context()), "no NATS connection")
}

// Stop under load with its deadline already short: in-flight publishes are
// cut off and spooled with everything not acknowledged; the next outbox
// re-publishes them under their ids, so each event is stored once.
func TestStopCutShortUnderLoadThenRestartStoresEachOnce(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{SyncAlways: true})
	dir := t.TempDir()
	h := env.harness(t, testConfig(dir))
	require.NoError(t, h.o.Start(t.Context()))
	h.o.Enqueue(testEvent("warmup", decider.KindInvite, 0))
	h.waitPublished(t, 1, 10*time.Second)

	ids := enqueueN(h.o, 30000)
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	require.NoError(t, h.o.Stop(ctx))
	// What the cut-short Stop could not publish is in the spool; a server
	// fast enough to acknowledge every batch meanwhile leaves nothing (its
	// acknowledged segments are removed). Either way each event is stored
	// once after the restart.
	spooled := spoolEvents(t, dir)
	if spooled > 0 {
		require.Contains(t, h.logs.String(), "outbox flush cut short")
	}

	h2 := env.harness(t, testConfig(dir))
	require.NoError(t, h2.o.Start(t.Context()))
	h2.waitPublished(t, spooled, 30*time.Second)
	require.NoError(t, h2.o.Stop(t.Context()))
	requireSpoolEmpty(t, dir)
	sc := readStream(t, env.js)
	for id, n := range sc.events {
		require.Equal(t, 1, n, "event %s", id)
	}
	for _, id := range ids {
		require.Equal(t, 1, sc.events[id], "event %s", id)
	}
	t.Logf("spooled %d of %d; duplicate acks after restart %v", spooled, len(ids),
		testutil.ToFloat64(h2.o.m.batches.WithLabelValues(resultDuplicate)))
}
