package policyfeed

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
	"github.com/invitegate/invitegate/migrations/policystore"
)

const testApp = "1400000000"

// testPolicy declares banned empty (kept with list events) and staff inline.
const testPolicy = `
apiVersion: invitegate/v1
lists:
  banned: []
  staff: [admin]
rules:
  - name: banned-operator
    reject: operator in lists.banned && !(operator in lists.staff)
    error_code: 10101
  - name: banned-member
    refuse_member: member in lists.banned
`

// syncBuffer is a log sink tests read while goroutines write.
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

// bundle is one embedded JetStream server and a client of it.
type bundle struct {
	srv   *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	log   *policystore.Log
	store string // the server's store dir
}

// setup starts an in-process JetStream server on a temp store and opens
// the test app's log.
func setup(t testing.TB) *bundle {
	t.Helper()
	b := &bundle{store: t.TempDir()}
	srv, err := natsconn.StartEmbedded(natsconn.EmbeddedConfig{StoreDir: b.store}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	b.srv = srv
	b.nc, b.js = natstest.Connect(t, srv)
	b.log, err = policystore.OpenLog(context.Background(), b.js, testApp, natsconn.PolicyStreamConfig{})
	require.NoError(t, err)
	return b
}

func parseDoc(t testing.TB, yaml string) *decider.Document {
	t.Helper()
	doc, err := decider.ParseDocument([]byte(yaml))
	require.NoError(t, err)
	return doc
}

// publish publishes a valid change and returns its revision.
func (b *bundle) publish(t testing.TB, c *decider.Change) uint64 {
	t.Helper()
	seq, err := b.log.Publish(context.Background(), c)
	require.NoError(t, err)
	return seq
}

// publishRaw publishes data as is on the subject of kind (no validation).
func (b *bundle) publishRaw(t testing.TB, kind, data string) uint64 {
	t.Helper()
	ack, err := b.js.Publish(context.Background(), decider.PolicySubject(testApp, kind), []byte(data))
	require.NoError(t, err)
	return ack.Sequence
}

func replacedBy(doc *decider.Document) *decider.Change {
	return &decider.Change{Kind: decider.ChangeReplaced, Document: doc, Author: "test"}
}

func listChange(kind, list string, ids ...string) *decider.Change {
	return &decider.Change{Kind: kind, List: list, IDs: ids, Author: "test"}
}

// replica is one Follower with its own engine, registry, data dir and logs.
type replica struct {
	f      *Follower
	engine *decider.Engine
	reg    *prometheus.Registry
	logs   *syncBuffer
	cfg    Config
}

func newReplica(t testing.TB, js jetstream.JetStream, cfg Config) *replica {
	t.Helper()
	cfg.App = testApp
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.ReplicaID == "" {
		cfg.ReplicaID = "r" + strings.ReplaceAll(t.Name(), "/", "_")
	}
	cfg.RetryWait = 50 * time.Millisecond
	r := &replica{engine: decider.NewEngine(decider.FailClosed, nil), reg: prometheus.NewRegistry(), logs: &syncBuffer{}, cfg: cfg}
	logger := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f, err := New(cfg, js, r.engine, logger, r.reg)
	require.NoError(t, err)
	r.f = f
	return r
}

// start starts the replica and stops it at cleanup.
func (r *replica) start(t testing.TB) *replica {
	t.Helper()
	require.NoError(t, r.f.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, r.f.Stop(ctx))
	})
	return r
}

func (r *replica) waitCaughtUp(t testing.TB) {
	t.Helper()
	select {
	case <-r.f.CaughtUp():
	case <-time.After(20 * time.Second):
		t.Fatalf("replica not caught up; logs:\n%s", r.logs.String())
	}
}

func (r *replica) waitRevision(t testing.TB, rev uint64) *decider.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, r.f.WaitRevision(ctx, rev), r.logs.String())
	s := r.engine.Snapshot()
	require.Equal(t, rev, s.Revision())
	return s
}

func (r *replica) counter(t testing.TB, name, label, value string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func req(operator string, members ...string) *decider.Request {
	return &decider.Request{App: testApp, Operator: operator, Members: members}
}
