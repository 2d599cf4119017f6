package outbox

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func (h harness) durable(result string) int { return int(testutil.ToFloat64(h.o.m.durability[result])) }

func syncConfig(dir string) Config {
	cfg := testConfig(dir)
	cfg.Durability = DurabilitySync
	cfg.DurabilityTimeout = time.Second
	cfg.SpoolAfter = 200 * time.Millisecond
	return cfg
}

// Sync: Enqueue returns once JetStream stored the event, and concurrent
// callers share publishes (group commit).
func TestSyncEnqueueReturnsOnceStoredAndSharesPublishes(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{SyncAlways: true})
	h := env.harness(t, syncConfig(t.TempDir()))
	require.NoError(t, h.o.Start(t.Context()))

	ev := testEvent("app", decider.KindInvite, 0)
	h.o.Enqueue(ev) // the stream may not exist yet: the bound covers it
	const callers, each = 32, 25
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = []string{ev.ID}
	)
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				ev := testEvent("app", kinds[(c+i)%3], c*each+i)
				h.o.Enqueue(ev)
				if i == each-1 { // durable on return: the stream holds it now
					require.Equal(t, 1, readStream(t, env.js).events[ev.ID], "event %s after Enqueue", ev.ID)
				}
				mu.Lock()
				ids = append(ids, ev.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	requireExactlyOnce(t, readStream(t, env.js), ids)
	require.Equal(t, len(ids), h.durable(DurableAcked)+h.durable(DurableSpooled))
	require.Zero(t, h.durable(DurableTimeout))
	batches := testutil.ToFloat64(h.o.m.batches.WithLabelValues(resultOK))
	require.Less(t, batches, float64(len(ids)), "concurrent callers share publishes")
	t.Logf("%d events in %.0f publishes", len(ids), batches)
}

// Sync with NATS down: Enqueue returns within the bound, the event fsynced
// to the spool; a new outbox publishes it once NATS is up.
func TestSyncEnqueueWithNATSDownIsSpooled(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true})
	dir := t.TempDir()
	h := env.harness(t, syncConfig(dir))
	require.NoError(t, h.o.Start(t.Context()))

	var ids []string
	for i := range 20 {
		ev := testEvent("app", decider.KindInvite, i)
		began := time.Now()
		h.o.Enqueue(ev)
		require.Less(t, time.Since(began), h.o.cfg.DurabilityTimeout+100*time.Millisecond)
		ids = append(ids, ev.ID)
	}
	require.Equal(t, 20, h.durable(DurableSpooled), h.logs.String())
	require.NotEmpty(t, segmentFiles(t, dir))

	env.ns.start()
	h.waitPublished(t, 20, 30*time.Second)
	requireExactlyOnce(t, readStream(t, env.js), ids)
}

// spooled leaves n events in a spool (records of 10 events: an outbox
// stopped before its start) with NATS down; it returns the environment, the
// outbox's config and the event ids.
func spooled(t *testing.T, n int) (env, Config, []string) {
	t.Helper()
	e := setup(t, setupOpts{Down: true})
	cfg := testConfig(t.TempDir())
	cfg.MaxBatchEvents = 10
	h := e.harness(t, cfg)
	ids := enqueueN(h.o, n)
	require.NoError(t, h.o.Stop(t.Context()))
	return e, cfg, ids
}

// A segment partly acknowledged before a stop: the next outbox publishes
// only the records not acknowledged.
func TestAcknowledgedSpoolRecordsAreNotPublishedAgain(t *testing.T) {
	t.Parallel()
	env, cfg, ids := spooled(t, 100)
	dir := cfg.DataDir

	// Acknowledge the first half of the records by hand, as PubAcks would.
	sp, err := openSpool(cfg.spoolDir(), cfg.SpoolSegmentBytes, func(string, corruption) {})
	require.NoError(t, err)
	var marks []ackMark
	acked := map[string]bool{}
	for _, seg := range sp.segs {
		for _, ref := range seg.refs[:len(seg.refs)/2] {
			b, err := sp.read(seg, ref)
			require.NoError(t, err)
			events, _ := decider.DecodeBatch(b.data)
			for _, ev := range events {
				acked[ev.ID] = true
			}
			marks = append(marks, ackMark{seg: seg, off: ref.off})
		}
	}
	require.NotEmpty(t, marks)
	require.NoError(t, sp.markAcked(marks))
	require.NoError(t, sp.close())

	env.ns.start()
	h2 := env.harness(t, cfg)
	require.NoError(t, h2.o.Start(t.Context()))
	want := len(ids) - len(acked)
	h2.waitPublished(t, want, 30*time.Second)
	require.Eventually(t, func() bool { return len(segmentFiles(t, dir)) == 0 }, 10*time.Second, 5*time.Millisecond)
	sc := readStream(t, env.js)
	for _, id := range ids {
		require.Equal(t, map[bool]int{true: 0, false: 1}[acked[id]], sc.events[id], "event %s", id)
	}
	require.Eventually(t, func() bool {
		acks, _ := filepath.Glob(filepath.Join(cfg.spoolDir(), "*"+ackSuffix))
		return len(acks) == 0
	}, 10*time.Second, 5*time.Millisecond, "ack files leave with their segments")
}

// Acknowledgements of replayed records are written as they come: a process
// that stops (here: cut short) after part of its spool was published leaves
// only the rest.
func TestReplayWritesAckMarks(t *testing.T) {
	t.Parallel()
	env, cfg, ids := spooled(t, 300)
	dir := cfg.DataDir

	env.ns.start()
	cfg.MaxInFlight = 1
	h2 := env.harness(t, cfg)
	require.NoError(t, h2.o.Start(t.Context()))
	h2.waitPublished(t, 100, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, h2.o.Stop(ctx)) // no flush: unacknowledged records stay
	published := h2.published()

	h3 := env.harness(t, cfg)
	require.NoError(t, h3.o.Start(t.Context()))
	h3.waitPublished(t, len(ids)-published, 30*time.Second)
	require.Eventually(t, func() bool { return len(segmentFiles(t, dir)) == 0 }, 10*time.Second, 5*time.Millisecond)
	requireExactlyOnce(t, readStream(t, env.js), ids)
	dups := testutil.ToFloat64(h2.o.m.batches.WithLabelValues(resultDuplicate)) +
		testutil.ToFloat64(h3.o.m.batches.WithLabelValues(resultDuplicate))
	// One batch may have been stored without its PubAck at the stop;
	// without ack marks every record h2 published would come again.
	require.LessOrEqual(t, dups, 1.0, "no acknowledged record was published again")
}

// Sync with JetStream not answering (the stream is gone): past SpoolAfter a
// copy of the batch is fsynced to the spool and the caller released; once
// the stream is back the batch is acknowledged, its record marked, and the
// segment removed: nothing is published twice.
func TestSyncBatchWithoutPubAckIsSpooledThenAcknowledged(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{})
	dir := t.TempDir()
	cfg := syncConfig(dir)
	cfg.SpoolAfter = 50 * time.Millisecond
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))
	require.Eventually(t, func() bool {
		select {
		case <-h.o.streamReady:
			return true
		default:
			return false
		}
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, env.js.DeleteStream(t.Context(), decider.EventStream))

	ev := testEvent("app", decider.KindInvite, 1)
	h.o.Enqueue(ev)
	require.Equal(t, 1, h.durable(DurableSpooled), h.logs.String())
	require.NotEmpty(t, segmentFiles(t, dir))

	_, err := natsconn.EnsureEventStream(t.Context(), env.js, cfg.Stream)
	require.NoError(t, err)
	h.waitPublished(t, 1, 30*time.Second)
	require.Eventually(t, func() bool { return len(segmentFiles(t, dir)) == 0 }, 10*time.Second, 5*time.Millisecond,
		"the acknowledged copy leaves the spool")
	require.NoError(t, h.o.Stop(t.Context()))
	requireExactlyOnce(t, readStream(t, env.js), []string{ev.ID})
}
