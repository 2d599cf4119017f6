package statsfeed

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop/startstoptest"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
)

// clock is a controllable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type bundle struct {
	nc     *nats.Conn
	f      *Follower
	table  *Table
	engine *decider.Engine
	clock  *clock
	reg    *prometheus.Registry
}

// setup starts an in-process NATS server and a Follower (not started)
// whose engine has a policy reading operator_invites_1h and group_size.
func setup(t *testing.T, mod ...func(*Config)) *bundle {
	t.Helper()
	nc, _ := natstest.Connect(t, natstest.Start(t, ""))
	doc, err := decider.ParseDocument([]byte(`
apiVersion: invitegate/v1
rules:
  - name: flood
    reject: stats.operator_invites_1h > 200 || stats.group_size > 500
`))
	require.NoError(t, err)
	snap, err := decider.Compile(doc, 1)
	require.NoError(t, err)
	b := &bundle{nc: nc, table: NewTable(), engine: decider.NewEngine(decider.FailOpen, nil),
		clock: &clock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}, reg: prometheus.NewRegistry()}
	b.engine.Load(snap)
	b.engine.SetStats(b.table)
	cfg := Config{Now: b.clock.Now, SweepInterval: time.Hour, TTL: time.Hour}
	for _, m := range mod {
		m(&cfg)
	}
	b.f, err = New(cfg, nc, b.table, b.engine,
		slog.New(slog.DiscardHandler), b.reg)
	require.NoError(t, err)
	return b
}

func (b *bundle) start(t *testing.T) {
	t.Helper()
	require.NoError(t, b.f.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, b.f.Stop(context.Background())) })
}

// send publishes one message of updates and waits until it is applied.
func (b *bundle) send(t *testing.T, us ...decider.StatUpdate) {
	t.Helper()
	msg := decider.NewStatsMessage(nil)
	for _, u := range us {
		msg = decider.AppendStatUpdate(msg, u)
	}
	b.sendRaw(t, msg)
}

func (b *bundle) sendRaw(t *testing.T, msg []byte) {
	t.Helper()
	applied := b.f.Applied()
	require.NoError(t, b.nc.Publish(decider.StatsSubject, msg))
	select {
	case <-applied:
	case <-time.After(5 * time.Second):
		t.Fatal("stats message not applied")
	}
}

func op(app, id string, v int64) decider.StatUpdate {
	return decider.StatUpdate{Stat: decider.StatOperatorInvites1h, App: app, Key: id, Value: v}
}

func TestFollowerAppliesAndDecides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(t)
	r := &decider.Request{App: "a", GroupID: "g", Operator: "alice", Members: []string{"bob"}}
	require.Equal(t, decider.OutcomeAllow, b.engine.Decide(r).Outcome)

	b.send(t, op("a", "alice", 201), op("other-app", "alice", 1),
		decider.StatUpdate{Stat: decider.StatGroupSize, App: "a", Key: "g", Value: 12},
		decider.StatUpdate{Stat: decider.StatMemberInvited1h, App: "a", Key: "bob", Value: 9}) // not read by the policy
	d := b.engine.Decide(r)
	require.Equal(t, decider.OutcomeReject, d.Outcome)
	require.Equal(t, []decider.StatRead{{Stat: "operator_invites_1h", Key: "alice", Value: 201}}, d.Stats)
	require.EqualValues(t, 12, b.table.Stat(decider.StatGroupSize, "a", "g"))
	require.EqualValues(t, 1, b.table.Stat(decider.StatOperatorInvites1h, "other-app", "alice"))
	require.EqualValues(t, 0, b.table.Stat(decider.StatMemberInvited1h, "a", "bob"), "only the statistics the policy reads are kept")
	require.EqualValues(t, 3, b.table.Keys())

	b.send(t, op("a", "alice", 0)) // the window slid: 0 removes the key
	require.Equal(t, decider.OutcomeAllow, b.engine.Decide(r).Outcome)
	require.EqualValues(t, 2, b.table.Keys())
	require.Equal(t, 2.0, testutil.ToFloat64(b.f.metrics.messages.WithLabelValues("applied")))
}

func TestFollowerBadMessageKeepsGoodRecords(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(t)
	msg := decider.AppendStatUpdate(decider.NewStatsMessage(nil), op("a", "alice", 5))
	b.sendRaw(t, append(msg, 0, 0x80)) // a truncated second record
	require.EqualValues(t, 5, b.table.Stat(decider.StatOperatorInvites1h, "a", "alice"))
	b.sendRaw(t, []byte("not a stats message"))
	require.Equal(t, 2.0, testutil.ToFloat64(b.f.metrics.messages.WithLabelValues("bad")))
}

func TestIdleKeysExpire(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(t)
	b.send(t, op("a", "idle", 3), op("a", "busy", 4))
	b.clock.Advance(40 * time.Minute)
	b.send(t, op("a", "busy", 5)) // refreshed
	b.clock.Advance(30 * time.Minute)
	require.Equal(t, 1, b.table.Sweep(b.clock.Now(), time.Hour))
	require.EqualValues(t, 0, b.table.Stat(decider.StatOperatorInvites1h, "a", "idle"))
	require.EqualValues(t, 5, b.table.Stat(decider.StatOperatorInvites1h, "a", "busy"))
	require.EqualValues(t, 1, b.table.Keys())
}

func TestFollowerWithoutPolicyKeepsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.engine.Load(nil)
	b.start(t)
	b.send(t, op("a", "alice", 5))
	require.EqualValues(t, 0, b.table.Keys())
}

func TestFollowerLifecycle(t *testing.T) {
	t.Parallel()
	nc, _ := natstest.Connect(t, natstest.Start(t, ""))
	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component {
		f, err := New(Config{}, nc, NewTable(), nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.NoError(t, err)
		return f
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{TTL: -1}, "TTL -1ns is negative"},
		{Config{SweepInterval: -1}, "SweepInterval -1ns is negative"},
		{Config{TTL: time.Minute, SweepInterval: time.Hour}, "SweepInterval 1h0m0s exceeds TTL 1m0s"},
		{Config{Pending: -1}, "Pending -1 is negative"},
		{Config{PendingBytes: 10}, "PendingBytes 10 is under 1024"},
		{Config{MaxMessageBytes: 10}, "MaxMessageBytes 10 is under 1024"},
		{Config{MaxKeys: -1}, "MaxKeys -1 is not positive"},
	} {
		_, err := New(c.cfg, nil, NewTable(), nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorContains(t, err, c.want)
	}
}

// TestStopWhileApplying stops the Follower while messages keep arriving:
// Stop must not wait on a loop that waits on Stop.
func TestStopWhileApplying(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.f.Start(context.Background()))
	msg := decider.AppendStatUpdate(decider.NewStatsMessage(nil), op("a", "alice", 5))
	for range 500 {
		require.NoError(t, b.nc.Publish(decider.StatsSubject, msg))
	}
	<-b.f.Applied()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.f.Stop(ctx))
}
