package policylog

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
	"github.com/invitegate/invitegate/migrations/pgtest"
	"github.com/invitegate/invitegate/migrations/policystore"
)

const policyYAML = `
apiVersion: invitegate/v1
lists:
  banned: []
  staff: [admin]
rules:
  - name: banned-member
    refuse_member: member in lists.banned && !(member in lists.staff)
`

type bundle struct {
	js   jetstream.JetStream
	logs map[string]*policystore.Log // by app
}

// setup starts an in-process JetStream server on a temp store.
func setup(t testing.TB, apps ...string) *bundle {
	t.Helper()
	_, js := natstest.Connect(t, natstest.Start(t, ""))
	b := &bundle{logs: map[string]*policystore.Log{}, js: js}
	for _, app := range apps {
		var err error
		b.logs[app], err = policystore.OpenLog(context.Background(), b.js, app, natsconn.PolicyStreamConfig{})
		require.NoError(t, err)
	}
	return b
}

func (b *bundle) publish(t testing.TB, app string, c *decider.Change) uint64 {
	t.Helper()
	seq, err := b.logs[app].Publish(context.Background(), c)
	require.NoError(t, err)
	return seq
}

func (b *bundle) publishRaw(t testing.TB, app, kind, data string) uint64 {
	t.Helper()
	ack, err := b.js.Publish(context.Background(), decider.PolicySubject(app, kind), []byte(data))
	require.NoError(t, err)
	return ack.Sequence
}

func doc(t testing.TB) *decider.Document {
	t.Helper()
	d, err := decider.ParseDocument([]byte(policyYAML))
	require.NoError(t, err)
	return d
}

func replaced(d *decider.Document) *decider.Change {
	return &decider.Change{Kind: decider.ChangeReplaced, Document: d, Author: "alice", Reason: "test"}
}

func listEvent(kind, list string, ids ...string) *decider.Change {
	return &decider.Change{Kind: kind, List: list, IDs: ids, Author: "mod-bot"}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewMigrated(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func startCompactor(t testing.TB, js jetstream.JetStream, cfg Config) *Compactor {
	t.Helper()
	cfg.RetryWait = 20 * time.Millisecond
	c, err := NewCompactor(cfg, js, discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
	return c
}

func startWriter(t testing.TB, js jetstream.JetStream, pool *pgxpool.Pool) *RevisionWriter {
	t.Helper()
	w, err := NewRevisionWriter(Config{RetryWait: 20 * time.Millisecond}, js, pool, discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, w.Stop(context.Background())) })
	return w
}

// fullFold folds app's whole log without any snapshot.
func (b *bundle) fullFold(t testing.TB, app string) *decider.Fold {
	t.Helper()
	f := decider.NewFold(nil, 0)
	require.NoError(t, b.logs[app].Read(context.Background(), 1, 0, func(r policystore.Record) error {
		_, _ = f.ApplyEvent(r.Kind, r.Data, r.Seq)
		return nil
	}))
	return f
}

func requireSameSnapshot(t testing.TB, want, got *decider.Snapshot) {
	t.Helper()
	require.Equal(t, want.Revision(), got.Revision())
	require.Equal(t, want.Document(), got.Document())
	require.Equal(t, want.ListNames(), got.ListNames())
	for _, n := range want.ListNames() {
		require.Equal(t, want.ListEntries(n), got.ListEntries(n), n)
	}
}
