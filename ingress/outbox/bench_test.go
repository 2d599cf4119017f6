package outbox

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// benchOutbox starts an embedded in-process server (SyncAlways as given)
// and a started outbox with the default Config on it.
func benchOutbox(b *testing.B, syncAlways bool) *Outbox {
	return benchOutboxWith(b, syncAlways, Config{})
}

func benchOutboxWith(b *testing.B, syncAlways bool, cfg Config) *Outbox {
	b.Helper()
	srv, err := natsconn.StartEmbedded(natsconn.EmbeddedConfig{StoreDir: b.TempDir(), SyncAlways: syncAlways}, nil)
	require.NoError(b, err)
	b.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := natsconn.Connect(context.Background(), natsconn.Config{}, srv, discard())
	require.NoError(b, err)
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	cfg.DataDir = b.TempDir()
	o, err := New(cfg, js, nc, discard(), prometheus.NewRegistry())
	require.NoError(b, err)
	require.NoError(b, o.Start(context.Background()))
	b.Cleanup(func() { _ = o.Stop(context.Background()) })
	require.Eventually(b, func() bool {
		select {
		case <-o.streamReady:
			return true
		default:
			return false
		}
	}, 10*time.Second, time.Millisecond)
	return o
}

// benchEvents is a rotation of realistic events over 2 apps and 3 kinds.
func benchEvents() []decider.Event {
	evs := make([]decider.Event, 60)
	for i := range evs {
		evs[i] = testEvent("app"+strconv.Itoa(i%2), kinds[i%3], i)
		evs[i].Members = []string{"member_" + strconv.Itoa(i), "member_" + strconv.Itoa(i+1)}
		evs[i].ClientIP, evs[i].Platform = "10.0.0.1", "iOS"
	}
	return evs
}

// BenchmarkEnqueue is Enqueue's own cost on the callback path (encoding,
// lock, append, sealing), on an outbox that is not publishing: sealed
// batches are discarded every 64k events, outside the timer.
func BenchmarkEnqueue(b *testing.B) {
	o, err := New(Config{DataDir: b.TempDir(), MaxMemoryBytes: 1 << 30}, nil, nil, discard(), prometheus.NewRegistry())
	require.NoError(b, err)
	evs := benchEvents()
	for i := range evs {
		evs[i].ID = decider.NewEventID()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		o.Enqueue(evs[i%len(evs)])
		if i%(64<<10) == 0 {
			b.StopTimer()
			o.mu.Lock()
			o.ready, o.memBytes = nil, 0
			o.mu.Unlock()
			b.StartTimer()
		}
	}
	b.StopTimer()
	reportDrops(b, o)
}

// BenchmarkEnqueueLive enqueues into a started outbox publishing to an
// in-process server (no fsync): ns/op and allocs then include the
// publishers' and the embedded server's share of each event.
func BenchmarkEnqueueLive(b *testing.B) {
	o := benchOutbox(b, false)
	evs := benchEvents()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ev := evs[i%len(evs)]
			ev.ID = decider.NewEventID()
			o.Enqueue(ev)
			i++
		}
	})
	b.StopTimer()
	reportDrops(b, o)
}

// BenchmarkThroughput enqueues b.N events at full speed and waits for all
// their PubAcks: the sustained events/s and batches/s the outbox gets into
// a server that fsyncs every message (sync_always=true) or on its interval.
//
// batch=1 (MaxBatchEvents 1) shows what one message per callback would get.
func BenchmarkThroughput(b *testing.B) {
	for _, tc := range []struct {
		syncAlways  bool
		batchEvents int
	}{{false, 0}, {true, 0}, {true, 1}} {
		name := "sync_always=" + strconv.FormatBool(tc.syncAlways)
		if tc.batchEvents > 0 {
			name += "/batch=" + strconv.Itoa(tc.batchEvents)
		}
		b.Run(name, func(b *testing.B) {
			o := benchOutboxWith(b, tc.syncAlways, Config{MaxBatchEvents: tc.batchEvents})
			benchThroughput(b, o)
		})
	}
}

func benchThroughput(b *testing.B, o *Outbox) {
	evs := benchEvents()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		ev := evs[i%len(evs)]
		ev.ID = decider.NewEventID()
		o.Enqueue(ev)
	}
	for testutil.ToFloat64(o.m.published) < float64(b.N) {
		if o.dropped() > 0 {
			b.Fatalf("%v events dropped", o.dropped())
		}
		time.Sleep(time.Millisecond) // polling the counter; a benchmark, not a test
	}
	elapsed := time.Since(start).Seconds()
	b.StopTimer()
	batches := testutil.ToFloat64(o.m.batches.WithLabelValues(resultOK)) +
		testutil.ToFloat64(o.m.batches.WithLabelValues(resultDuplicate))
	b.ReportMetric(float64(b.N)/elapsed, "events/s")
	b.ReportMetric(batches/elapsed, "batches/s")
	b.ReportMetric(float64(b.N)/batches, "events/batch")
}

func (o *Outbox) dropped() float64 {
	n := 0.0
	for _, r := range []string{DropSpoolFull, DropSpoolBacklog, DropSpoolError, DropTooLarge, DropEncode, DropStopped} {
		n += testutil.ToFloat64(o.m.dropped.WithLabelValues(r))
	}
	return n
}

func reportDrops(b *testing.B, o *Outbox) {
	b.Helper()
	b.ReportMetric(o.dropped(), "dropped")
}
