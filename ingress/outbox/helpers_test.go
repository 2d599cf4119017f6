package outbox

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// natsServer is an embedded JetStream server on a fixed random port, so a
// test can stop it and start a new one on the same store and address.
type natsServer struct {
	t     *testing.T
	store string
	addr  string
	sync  bool
	mu    sync.Mutex
	srv   *server.Server
}

func newNATSServer(t *testing.T, syncAlways bool) *natsServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	ns := &natsServer{t: t, store: t.TempDir(), addr: addr, sync: syncAlways}
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) url() string { return "nats://" + ns.addr }

func (ns *natsServer) start() {
	ns.t.Helper()
	srv, err := natsconn.StartEmbedded(natsconn.EmbeddedConfig{StoreDir: ns.store, ListenAddr: ns.addr, SyncAlways: ns.sync}, nil)
	require.NoError(ns.t, err)
	ns.mu.Lock()
	ns.srv = srv
	ns.mu.Unlock()
}

func (ns *natsServer) stop() {
	ns.mu.Lock()
	srv := ns.srv
	ns.srv = nil
	ns.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// connect dials ns (whether it runs or not) with fast reconnects.
func (ns *natsServer) connect(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := natsconn.Connect(t.Context(), natsconn.Config{URL: ns.url(), ReconnectWait: 50 * time.Millisecond}, nil, discard())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// env is a NATS server (running or not) and a connection to it.
type env struct {
	ns *natsServer
	nc *nats.Conn
	js jetstream.JetStream
}

type setupOpts struct {
	Down       bool // leave the server stopped (the test starts it)
	SyncAlways bool // fsync every message, as production should
}

func setup(t *testing.T, o setupOpts) env {
	t.Helper()
	ns := newNATSServer(t, o.SyncAlways)
	if !o.Down {
		ns.start()
	}
	nc, js := ns.connect(t)
	return env{ns: ns, nc: nc, js: js}
}

func (e env) harness(t *testing.T, cfg Config) harness {
	t.Helper()
	return newHarness(t, cfg, e.nc, e.js)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// harness is one outbox over one connection, with its registry and logs.
type harness struct {
	o    *Outbox
	reg  *prometheus.Registry
	logs *syncBuffer
}

// testConfig is fast to retry and flush; tests override what they exercise.
func testConfig(dataDir string) Config {
	return Config{
		DataDir:         dataDir,
		AckTimeout:      2 * time.Second,
		RetryMinBackoff: 10 * time.Millisecond,
		RetryMaxBackoff: 200 * time.Millisecond,
		FlushTimeout:    5 * time.Second,
	}
}

func newHarness(t *testing.T, cfg Config, nc *nats.Conn, js jetstream.JetStream) harness {
	t.Helper()
	h := harness{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o, err := New(cfg, js, nc, logger, h.reg)
	require.NoError(t, err)
	h.o = o
	t.Cleanup(func() { _ = o.Stop(context.Background()) })
	return h
}

func (h harness) published() int { return int(testutil.ToFloat64(h.o.m.published)) }

func (h harness) dropped(reason string) int {
	return int(testutil.ToFloat64(h.o.m.dropped.WithLabelValues(reason)))
}

func (h harness) waitPublished(t *testing.T, n int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return h.published() >= n }, within, 5*time.Millisecond,
		"published %d of %d", h.published(), n)
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testEvent is a small invite (or membership) event with a fresh id.
func testEvent(app, kind string, i int) decider.Event {
	ev := decider.Event{
		Schema: decider.SchemaVersion, ID: decider.NewEventID(), Kind: kind, App: app,
		Command: decider.CommandBeforeInviteJoinGroup, GroupID: "@TGS#" + strconv.Itoa(i), GroupType: "Public",
		Operator: "user" + strconv.Itoa(i%97), Members: []string{"m1", "m2"},
		ReceivedAt: testNow, DecidedAt: testNow,
	}
	if kind == decider.KindInvite {
		ev.Outcome = decider.OutcomeAllow
	} else {
		ev.Command, ev.ChangeType = decider.CommandAfterNewMemberJoin, "Invited"
	}
	return ev
}

var kinds = []string{decider.KindInvite, decider.KindMemberJoined, decider.KindMemberExited}

// enqueueN enqueues n events over two apps and the three kinds; it returns their ids.
func enqueueN(o *Outbox, n int) []string {
	ids := make([]string, n)
	for i := range n {
		ev := testEvent("app"+strconv.Itoa(i%2), kinds[i%3], i)
		ids[i] = ev.ID
		o.Enqueue(ev)
	}
	return ids
}

// streamContent is what the event stream holds.
type streamContent struct {
	msgs     int
	events   map[string]int // event id -> copies
	batchIDs map[string]int // Nats-Msg-Id -> copies
}

// readStream reads every message of the event stream and checks each
// against the wire contract (headers, subject, NDJSON body).
func readStream(t *testing.T, js jetstream.JetStream) streamContent {
	t.Helper()
	ctx := t.Context()
	stream, err := js.Stream(ctx, decider.EventStream)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	sc := streamContent{events: map[string]int{}, batchIDs: map[string]int{}}
	if info.State.Msgs == 0 {
		return sc
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	for sc.msgs < int(info.State.Msgs) {
		batch, err := cons.Fetch(min(500, int(info.State.Msgs)-sc.msgs), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		got := 0
		for msg := range batch.Messages() {
			got++
			sc.msgs++
			checkMessage(t, msg, &sc)
		}
		require.NoError(t, batch.Error())
		require.NotZero(t, got, "stream has %d messages, read %d", info.State.Msgs, sc.msgs)
	}
	return sc
}

func checkMessage(t *testing.T, msg jetstream.Msg, sc *streamContent) {
	t.Helper()
	h := msg.Headers()
	require.Equal(t, decider.ContentType, h.Get(decider.HeaderContent))
	require.Equal(t, strconv.Itoa(decider.SchemaVersion), h.Get(decider.HeaderSchema))
	id := h.Get(jetstream.MsgIDHeader)
	require.NotEmpty(t, id)
	sc.batchIDs[id]++
	events, bad := decider.DecodeBatch(msg.Data())
	require.Empty(t, bad)
	require.Equal(t, strconv.Itoa(len(events)), h.Get(decider.HeaderCount))
	for _, ev := range events {
		require.Equal(t, decider.EventSubject(ev.App, ev.Kind), msg.Subject())
		sc.events[ev.ID]++
	}
}

// requireExactlyOnce checks that every id is in the stream once and nothing else is.
func requireExactlyOnce(t *testing.T, sc streamContent, ids []string) {
	t.Helper()
	for _, id := range ids {
		require.Equal(t, 1, sc.events[id], "event %s copies", id)
	}
	require.Len(t, sc.events, len(ids))
	for id, n := range sc.batchIDs {
		require.Equal(t, 1, n, "batch %s stored %d times", id, n)
	}
}
