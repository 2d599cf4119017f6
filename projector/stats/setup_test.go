package stats

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// clock is a controllable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type bundle struct {
	srv   *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	clock *clock
}

// setup starts an in-process JetStream server with the event stream. The
// clock starts at the current minute: the stream stamps messages with the
// real time, and the aggregator's rebuild starts 24h before the clock.
func setup(t testing.TB) *bundle {
	t.Helper()
	srv := natstest.Start(t, "")
	nc, js := natstest.Connect(t, srv)
	_, err := natsconn.EnsureEventStream(context.Background(), js, natsconn.EventStreamConfig{})
	require.NoError(t, err)
	return &bundle{srv: srv, nc: nc, js: js, clock: &clock{t: time.Now().UTC().Truncate(time.Minute)}}
}

// aggregator starts an aggregator that flushes only when the test calls
// Flush, after applying each of setups (WriteTo, KeepGroupSizes), and
// stops it at cleanup.
func (b *bundle) aggregator(t testing.TB, setups ...func(*Aggregator)) *Aggregator {
	t.Helper()
	a, err := New(Config{Now: b.clock.Now, FlushInterval: time.Hour, RefreshInterval: time.Hour}, b.nc, b.js,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	for _, f := range setups {
		f(a)
	}
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })
	return a
}

// pool returns a pool on a fresh migrated database.
func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), pgtest.NewMigrated(t))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// publish sends events as one batch on their app and kind's subject.
func (b *bundle) publish(t testing.TB, evs ...*decider.Event) {
	t.Helper()
	var buf []byte
	for _, ev := range evs {
		var err error
		buf, err = decider.AppendEvent(buf, ev)
		require.NoError(t, err)
	}
	_, err := b.js.Publish(context.Background(), decider.EventSubject(evs[0].App, evs[0].Kind), buf)
	require.NoError(t, err)
}

func waitCaughtUp(t testing.TB, a *Aggregator) {
	t.Helper()
	select {
	case <-a.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("aggregator did not catch up")
	}
}

// feed is what every ingress hears, read through NATS only: the stats
// updates on decider.StatsSubject, decoded with the decider's codec, kept
// as the last value of each statistic and key (a 0 forgets it).
type feed struct {
	mu      sync.Mutex
	vals    map[feedKey]int64
	applied chan struct{} // closed and replaced after every message
}

type feedKey struct {
	st       decider.Stat
	app, key string
}

// feed subscribes to the stats updates until the test ends.
func (b *bundle) feed(t *testing.T) *feed {
	t.Helper()
	f := &feed{vals: map[feedKey]int64{}, applied: make(chan struct{})}
	sub, err := b.nc.Subscribe(decider.StatsSubject, func(m *nats.Msg) {
		f.mu.Lock()
		defer f.mu.Unlock()
		err := decider.DecodeStatUpdates(m.Data, func(u decider.StatUpdate) {
			if k := (feedKey{u.Stat, u.App, u.Key}); u.Value == 0 {
				delete(f.vals, k)
			} else {
				f.vals[k] = u.Value
			}
		})
		if err != nil {
			t.Errorf("stats message: %v", err)
		}
		close(f.applied)
		f.applied = make(chan struct{})
	})
	require.NoError(t, err)
	require.NoError(t, b.nc.Flush())
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return f
}

// Stat returns the last value heard of st for key in app, 0 when none.
func (f *feed) Stat(st decider.Stat, app, key string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vals[feedKey{st, app, key}]
}

// Keys returns how many operators, members and groups have a value.
func (f *feed) Keys() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	type subjectKey struct {
		subj     decider.StatSubject
		app, key string
	}
	keys := map[subjectKey]bool{}
	for k := range f.vals {
		keys[subjectKey{k.st.Subject(), k.app, k.key}] = true
	}
	return len(keys)
}

// Applied returns a channel closed after the next message is applied.
func (f *feed) Applied() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}
