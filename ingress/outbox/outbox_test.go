package outbox

import (
	"strings"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop/startstoptest"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestPublishesEveryEventOnceInBatches(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{})
	cfg := testConfig(t.TempDir())
	cfg.MaxBatchEvents = 100
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))

	const n = 3000
	ids := enqueueN(h.o, n)
	h.waitPublished(t, n, 20*time.Second)

	sc := readStream(t, env.js)
	requireExactlyOnce(t, sc, ids)
	require.Less(t, sc.msgs, n/10, "events travel in batches")
	require.GreaterOrEqual(t, sc.msgs, n/100)
	require.Equal(t, float64(n/3), testutil.ToFloat64(h.o.m.enqueued.WithLabelValues(decider.KindInvite)))
	require.Equal(t, float64(sc.msgs), testutil.ToFloat64(h.o.m.batches.WithLabelValues(resultOK)))
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.o.m.outboxEvents) == 0 }, 5*time.Second, 5*time.Millisecond)

	info, err := env.js.Stream(t.Context(), decider.EventStream)
	require.NoError(t, err)
	require.Equal(t, natsconn.DefaultDuplicates, info.CachedInfo().Config.Duplicates, "Start ensured the stream")
	require.NoError(t, h.o.Stop(t.Context()))
	requireSpoolEmpty(t, cfg.DataDir)
}

func TestSealsOnBytesAndDelay(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{})
	cfg := testConfig(t.TempDir())
	cfg.MaxBatchBytes = 4 << 10
	cfg.MaxMemoryBytes = 1 << 20
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))

	one := testEvent("solo", decider.KindInvite, 1)
	h.o.Enqueue(one) // alone: sealed by BatchDelay
	h.waitPublished(t, 1, 5*time.Second)

	ids := make([]string, 0, 200)
	for i := range 200 {
		ev := testEvent("bulk", decider.KindInvite, i)
		ids = append(ids, ev.ID)
		h.o.Enqueue(ev)
	}
	h.waitPublished(t, 201, 10*time.Second)
	sc := readStream(t, env.js)
	requireExactlyOnce(t, sc, append(ids, one.ID))
	require.Greater(t, sc.msgs, 200*250/(4<<10), "batches sealed at MaxBatchBytes")
}

func TestStopFlushesWhatIsInMemory(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{})
	cfg := testConfig(t.TempDir())
	cfg.BatchDelay = time.Hour // only Stop seals these
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))
	ids := enqueueN(h.o, 50)

	require.NoError(t, h.o.Stop(t.Context()))
	require.Equal(t, 50, h.published())
	requireExactlyOnce(t, readStream(t, env.js), ids)
	requireSpoolEmpty(t, cfg.DataDir)

	h.o.Enqueue(testEvent("late", decider.KindInvite, 1))
	require.Equal(t, 1, h.dropped(DropStopped))
	require.Contains(t, h.logs.String(), "reason=stopped")
	require.NoError(t, h.o.Stop(t.Context()), "Stop is idempotent")
	require.ErrorIs(t, h.o.Start(t.Context()), ErrStopped)
}

func TestOutboxStartStop(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{})
	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component {
		return env.harness(t, testConfig(t.TempDir())).o
	})
}

// Events enqueued before Start, then Stop without Start: spooled, and the
// next outbox publishes them.
func TestStopBeforeStartSpoolsEnqueued(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{})
	dir := t.TempDir()
	h := env.harness(t, testConfig(dir))
	ids := enqueueN(h.o, 30)
	require.NoError(t, h.o.Stop(t.Context()))
	require.Equal(t, 30, spoolEvents(t, dir))

	h2 := env.harness(t, testConfig(dir))
	require.NoError(t, h2.o.Start(t.Context()))
	h2.waitPublished(t, 30, 10*time.Second)
	requireExactlyOnce(t, readStream(t, env.js), ids)
	require.NoError(t, h2.o.Stop(t.Context()))
	requireSpoolEmpty(t, dir)
}

func TestStopWithoutEventsLeavesNoSpool(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true}) // never started
	dir := t.TempDir()
	h := env.harness(t, testConfig(dir))
	require.NoError(t, h.o.Stop(t.Context()))
	require.NoDirExists(t, dir+"/spool")
}

func TestEnsuresStreamOnceNATSIsUp(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{Down: true})
	cfg := testConfig(t.TempDir())
	cfg.Stream = natsconn.EventStreamConfig{MaxAge: 24 * time.Hour, Duplicates: 3 * time.Minute}
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()), "Start does not wait for NATS")
	ids := enqueueN(h.o, 10)

	env.ns.start()
	h.waitPublished(t, 10, 15*time.Second)
	stream, err := env.js.Stream(t.Context(), decider.EventStream)
	require.NoError(t, err)
	require.Equal(t, 3*time.Minute, stream.CachedInfo().Config.Duplicates)
	require.Equal(t, 24*time.Hour, stream.CachedInfo().Config.MaxAge)
	requireExactlyOnce(t, readStream(t, env.js), ids)
}

// A batch over the server's max_payload is split (derived ids); a single
// event over it is dropped and counted.
func TestSplitsOversizedBatchesAndDropsOversizedEvents(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{})
	cfg := testConfig(t.TempDir())
	cfg.MaxBatchBytes = 8 << 20
	cfg.MaxMemoryBytes = 64 << 20
	cfg.BatchDelay = time.Hour
	h := env.harness(t, cfg)
	require.NoError(t, h.o.Start(t.Context()))

	member := strings.Repeat("x", 300<<10)
	var ids []string
	for i := range 7 {
		ev := testEvent("big", decider.KindInvite, i)
		ev.Members = []string{member}
		ids = append(ids, ev.ID)
		h.o.Enqueue(ev)
	}
	huge := testEvent("big", decider.KindInvite, 99)
	huge.Members = []string{strings.Repeat("y", 2<<20)}
	h.o.Enqueue(huge)
	require.NoError(t, h.o.Stop(t.Context()))

	require.Equal(t, 7, h.published())
	require.Equal(t, 1, h.dropped(DropTooLarge))
	require.Contains(t, h.logs.String(), "reason=too_large")
	sc := readStream(t, env.js)
	requireExactlyOnce(t, sc, ids)
	for id := range sc.batchIDs {
		require.Contains(t, id, ".", "split batches carry derived ids")
	}
	requireSpoolEmpty(t, cfg.DataDir)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"batch events":  {Config{MaxBatchEvents: -1}, "max batch events -1 < 1"},
		"batch bytes":   {Config{MaxBatchBytes: 128 << 20}, "max batch bytes 134217728 not in 1..67108864"},
		"delay":         {Config{BatchDelay: -1}, "batch delay -1ns is negative"},
		"in flight":     {Config{MaxInFlight: -2}, "max in flight -2 < 1"},
		"ack timeout":   {Config{AckTimeout: -1}, "ack timeout -1ns is negative"},
		"backoff range": {Config{RetryMinBackoff: time.Second, RetryMaxBackoff: time.Millisecond}, "retry backoff 1s..1ms is not a range"},
		"memory":        {Config{MaxMemoryBytes: 1 << 10}, "max memory bytes 1024 < max batch bytes 524288"},
		"segment":       {Config{SpoolSegmentBytes: -1}, "spool segment bytes -1 < 1"},
		"spool max":     {Config{SpoolMaxBytes: -1}, "spool max bytes -1 is negative"},
		"sync interval": {Config{SpoolSyncInterval: -1}, "spool sync interval -1ns is negative"},
		"flush":         {Config{FlushTimeout: -1}, "flush timeout -1ns is negative"},
		"stream":        {Config{Stream: natsconn.EventStreamConfig{Replicas: 9}}, "stream replicas 9 not in 1..5"},
		"durability":    {Config{Durability: "fsync"}, `durability "fsync" is neither "async" nor "sync"`},
		"durability timeout": {Config{DurabilityTimeout: 2 * time.Second},
			"durability timeout 2s not in 0..1.5s"},
		"spool after": {Config{DurabilityTimeout: 50 * time.Millisecond},
			"spool after 100ms not in 0..durability timeout 50ms"},
		"dup window": {Config{Stream: natsconn.EventStreamConfig{Duplicates: 15 * time.Second}},
			"stream duplicate window 15s shorter than twice the retry horizon (ack timeout 5s + max backoff 5s)"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg, nil, nil, discard(), nil)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.NoError(t, Config{}.withDefaults().validate())
	require.Equal(t, 10*time.Second, Config{}.RetryHorizon())
}

func TestNewRejectsDuplicateMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(t.TempDir()), nil, nil)
	_, err := New(testConfig(t.TempDir()), nil, nil, discard(), h.reg)
	require.ErrorContains(t, err, "register outbox metrics")
}

func TestUnencodableEventIsDroppedAndCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testConfig(t.TempDir()), nil, nil)
	ev := testEvent("app", decider.KindInvite, 1)
	ev.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // outside what RFC 3339 can write
	h.o.Enqueue(ev)
	require.Equal(t, 1, h.dropped(DropEncode))
	require.Contains(t, h.logs.String(), "reason=encode")
	require.Zero(t, testutil.ToFloat64(h.o.m.outboxEvents))
}

// Two outboxes on one data directory would replay and remove each other's
// segments: the second refuses to start until the first stops.
func TestSpoolDirectoryIsLocked(t *testing.T) {
	t.Parallel()
	env := setup(t, setupOpts{})
	dir := t.TempDir()
	first := env.harness(t, testConfig(dir))
	require.NoError(t, first.o.Start(t.Context()))
	second := env.harness(t, testConfig(dir))
	err := second.o.Start(t.Context())
	require.ErrorIs(t, err, ErrSpoolLocked)
	require.ErrorContains(t, err, "same --data-dir")
	require.NoError(t, first.o.Stop(t.Context()))
	third := env.harness(t, testConfig(dir))
	require.NoError(t, third.o.Start(t.Context()), "free again once the first stopped")
	require.NoError(t, third.o.Stop(t.Context()))
}
