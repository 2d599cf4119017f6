package projector_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
	"github.com/invitegate/invitegate/migrations/pgtest"
	"github.com/invitegate/invitegate/projector"
)

const waitFor = 60 * time.Second

// bundle is what a projector test needs: a migrated database, an embedded
// JetStream server with the event stream, and a config for fast tests.
type bundle struct {
	dsn    string
	pool   *pgxpool.Pool
	srv    *server.Server
	js     jetstream.JetStream
	cfg    projector.Config
	logger *slog.Logger
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{dsn: pgtest.NewMigrated(t), logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if testing.Verbose() {
		b.logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b.srv = natstest.Start(t, "")
	b.js = b.connect(t)
	_, err := natsconn.EnsureEventStream(context.Background(), b.js, natsconn.EventStreamConfig{})
	require.NoError(t, err)
	b.pool = newPool(t, b.dsn)
	b.cfg = projector.Config{
		DatabaseURL:     b.dsn,
		BatchWait:       20 * time.Millisecond,
		AckWait:         time.Second,
		BackOff:         []time.Duration{50 * time.Millisecond},
		RetryMin:        10 * time.Millisecond,
		RetryMax:        100 * time.Millisecond,
		PendingInterval: 50 * time.Millisecond,
	}
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// connect opens a client connection of its own to the embedded server.
func (b *bundle) connect(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(b.srv))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// worker starts a Worker with cfg on js and its own registry; it is
// stopped at cleanup.
func (b *bundle) worker(t *testing.T, cfg projector.Config, js jetstream.JetStream, pool *pgxpool.Pool) (*projector.Worker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	w, err := projector.New(cfg, js, pool, b.logger, reg)
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, w.Stop(ctx))
	})
	return w, reg
}

// publish sends evs in messages of perMsg events, as the outbox does.
func (b *bundle) publish(t *testing.T, evs []decider.Event, perMsg int) {
	t.Helper()
	for start := 0; start < len(evs); start += perMsg {
		chunk := evs[start:min(start+perMsg, len(evs))]
		var data []byte
		for i := range chunk {
			var err error
			data, err = decider.AppendEvent(data, &chunk[i])
			require.NoError(t, err)
		}
		b.publishRaw(t, decider.EventSubject(chunk[0].App, chunk[0].Kind), data, len(chunk))
	}
}

var msgIDs = make(chan int, 1)

func init() { msgIDs <- 0 }

// publishRaw sends one message with a unique Nats-Msg-Id.
func (b *bundle) publishRaw(t *testing.T, subject string, data []byte, count int) {
	t.Helper()
	id := <-msgIDs
	msgIDs <- id + 1
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(decider.HeaderCount, strconv.Itoa(count))
	msg.Header.Set(decider.HeaderContent, decider.ContentType)
	msg.Header.Set(nats.MsgIdHdr, fmt.Sprintf("batch-%d-%d", time.Now().UnixNano(), id))
	_, err := b.js.PublishMsg(context.Background(), msg)
	require.NoError(t, err)
}

func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// waitRows waits until table holds n rows.
func waitRows(t *testing.T, pool *pgxpool.Pool, table string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return count(t, pool, "SELECT count(*) FROM invitegate."+table) >= n
	}, waitFor, 10*time.Millisecond, "waiting for %d rows in %s", n, table)
	require.Equal(t, n, count(t, pool, "SELECT count(*) FROM invitegate."+table), table)
}

// requireRollupsMatchRows checks that the incrementally maintained rollups
// equal a from-scratch aggregation of the stored rows.
func requireRollupsMatchRows(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	incremental := rollupSnapshot(t, pool)
	require.NoError(t, projector.RebuildRollups(context.Background(), pool))
	require.Equal(t, rollupSnapshot(t, pool), incremental)
}

func rollupSnapshot(t *testing.T, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	snap := map[string][]string{}
	for _, table := range []string{"invite_rollup_hourly", "invite_rollup_rule_daily", "invite_rollup_operator_daily"} {
		rows, err := pool.Query(context.Background(), "SELECT r::text FROM invitegate."+table+" r ORDER BY 1")
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		snap[table] = lines
	}
	return snap
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

func jetstreamOf(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// newDatabaseURL names a database that does not exist yet and is dropped
// at cleanup.
func newDatabaseURL(t *testing.T) string {
	t.Helper()
	dsn := pgtest.URL(pgtest.RandomName("invitegate_test_"))
	t.Cleanup(func() { require.NoError(t, migrations.DropDatabase(context.Background(), dsn)) })
	return dsn
}
