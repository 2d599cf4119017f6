package stats

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop/startstoptest"
)

// TestAggregatorFeedsIngress runs events through the stream and the
// aggregator to what an ingress hears on NATS, then lets the hour pass.
func TestAggregatorFeedsIngress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	heard := b.feed(t)
	a := b.aggregator(t)
	waitCaughtUp(t, a)

	now := b.clock.Now()
	b.publish(t, invite(now, "a", "g", "alice", decider.OutcomeAllow, "m1", "m2"),
		invite(now, "a", "g", "alice", decider.OutcomeReject, "m3"))
	require.Eventually(t, func() bool { return a.Value(decider.StatOperatorInvites1h, "a", "alice") == 3 }, 5*time.Second, 5*time.Millisecond)

	flush := func() {
		applied := heard.Applied()
		require.NoError(t, a.Flush(context.Background()))
		<-applied
	}
	flush()
	require.EqualValues(t, 3, heard.Stat(decider.StatOperatorInvites1h, "a", "alice"))
	require.EqualValues(t, 1, heard.Stat(decider.StatOperatorRefused24h, "a", "alice"))
	require.EqualValues(t, 2, heard.Stat(decider.StatMemberInvited1h, "a", "m1")+heard.Stat(decider.StatMemberInvited1h, "a", "m3"))
	require.EqualValues(t, 2, heard.Stat(decider.StatGroupSize, "a", "g"))

	b.clock.Advance(time.Hour) // the hour passes without events: the 1h counts fall to 0
	flush()
	require.EqualValues(t, 0, heard.Stat(decider.StatOperatorInvites1h, "a", "alice"))
	require.EqualValues(t, 3, heard.Stat(decider.StatOperatorInvites24h, "a", "alice"))
	require.EqualValues(t, 0, heard.Stat(decider.StatMemberInvited1h, "a", "m1"))
	require.Equal(t, 2, heard.Keys(), "alice (24h) and g (size) remain; the members are gone")
}

// randomEvents returns n invites and membership changes over the last
// two hours of clock time.
func randomEvents(r *rand.Rand, now time.Time, n int) []*decider.Event {
	outcomes := []decider.Outcome{decider.OutcomeAllow, decider.OutcomePartial, decider.OutcomeReject}
	var evs []*decider.Event
	for range n {
		at := now.Add(-time.Duration(r.IntN(120)) * time.Minute)
		g := fmt.Sprintf("g%d", r.IntN(5))
		switch r.IntN(5) {
		case 0:
			evs = append(evs, membership(at, decider.KindMemberJoined, g, "Apply", fmt.Sprintf("j%d", r.IntN(50))))
		case 1:
			evs = append(evs, membership(at, decider.KindMemberExited, g, "Quit", fmt.Sprintf("j%d", r.IntN(50))))
		default:
			ev := invite(at, "a", g, fmt.Sprintf("op%d", r.IntN(10)), outcomes[r.IntN(3)],
				fmt.Sprintf("m%d", r.IntN(30)), fmt.Sprintf("m%d", r.IntN(30)))
			if ev.Outcome == decider.OutcomePartial {
				ev.Refused = []decider.Refusal{{Member: ev.Members[0], Rule: "r"}}
			}
			evs = append(evs, ev)
		}
	}
	return evs
}

// requireSame compares every statistic of every key the reference knows.
func requireSame(t *testing.T, ref *Counters, now time.Time, aggs ...*Aggregator) {
	t.Helper()
	for s := range ref.subj {
		for k := range ref.subj[s] {
			for _, st := range subjectStats[s] {
				want := ref.Value(st, ref.appNames[k.app], k.id, now)
				for i, a := range aggs {
					require.Equal(t, want, a.Value(st, ref.appNames[k.app], k.id), "aggregator %d: %s of %s", i, st, k.id)
				}
			}
		}
	}
}

func TestTwoAggregatorsAndRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := rand.New(rand.NewPCG(1, 2))
	now := b.clock.Now()
	ref := NewCounters(false)
	first := randomEvents(r, now, 400)
	for i := 0; i < len(first); i += 10 {
		b.publish(t, first[i:i+10]...) // batches mix kinds: fine for the aggregator
	}
	for _, ev := range first {
		ref.Apply(ev, 0)
	}
	one, two := b.aggregator(t), b.aggregator(t)
	waitCaughtUp(t, one)
	waitCaughtUp(t, two)
	requireSame(t, ref, now, one, two)

	// Stop one; more events arrive; a fresh aggregator (a restart) rebuilds
	// from the stream and agrees with the survivor, not starting from zero.
	require.NoError(t, one.Stop(context.Background()))
	more := randomEvents(r, now, 100)
	for _, ev := range more {
		b.publish(t, ev)
		ref.Apply(ev, 0)
	}
	restarted := b.aggregator(t)
	waitCaughtUp(t, restarted)
	require.Eventually(t, func() bool {
		return restarted.Value(decider.StatOperatorInvites24h, "a", "op1") == ref.Value(decider.StatOperatorInvites24h, "a", "op1", now) &&
			two.Value(decider.StatOperatorInvites24h, "a", "op1") == ref.Value(decider.StatOperatorInvites24h, "a", "op1", now)
	}, 5*time.Second, 5*time.Millisecond)
	requireSame(t, ref, now, two, restarted)
	b.clock.Advance(90 * time.Minute)
	requireSame(t, ref, b.clock.Now(), two, restarted)
}

func TestAggregatorPublishesNothingBeforeCaughtUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, err := New(Config{Now: b.clock.Now}, b.nc, b.js, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, a.Stop(context.Background()), "stop before start")
	a.counters.Apply(invite(b.clock.Now(), "a", "g", "o", decider.OutcomeAllow, "m"), 0)
	msgs, n := a.collect()
	require.Empty(t, msgs)
	require.Zero(t, n)
}

func TestAggregatorStartStop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component {
		a, err := New(Config{Now: b.clock.Now}, b.nc, b.js, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.NoError(t, err)
		return a
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{FlushInterval: -1}, "FlushInterval -1ns is negative"},
		{Config{FlushInterval: time.Minute, RefreshInterval: time.Second}, "RefreshInterval 1s is shorter than FlushInterval 1m0s"},
		{Config{Rebuild: time.Hour}, "Rebuild 1h0m0s is shorter than the 24h window"},
		{Config{MaxMessageBytes: 10}, "MaxMessageBytes 10 is under 1024"},
		{Config{RetryWait: -1}, "RetryWait -1ns is negative"},
		{Config{MaxKeys: 10}, "MaxKeys 10 is under 1000"},
		{Config{TopKeys: -1}, "TopKeys -1 is under 1"},
		{Config{TopInterval: -1}, "TopInterval -1ns is negative"},
		{Config{GroupIdle: time.Minute}, "GroupIdle 1m0s is shorter than the 1h window"},
	} {
		_, err := New(c.cfg, nil, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorContains(t, err, c.want)
	}
}
