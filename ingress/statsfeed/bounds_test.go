package statsfeed

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// TestFollowerDropsOtherApps: with App set, updates for any other app are
// dropped and counted; this app's are kept.
func TestFollowerDropsOtherApps(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.App = "a" })
	b.start(t)
	b.send(t, op("a", "alice", 5), op("x", "alice", 7), op("x", "bob", 1))
	require.EqualValues(t, 5, b.table.Stat(decider.StatOperatorInvites1h, "a", "alice"))
	require.EqualValues(t, 0, b.table.Stat(decider.StatOperatorInvites1h, "x", "alice"))
	require.EqualValues(t, 1, b.table.Keys())
	require.Equal(t, 2.0, testutil.ToFloat64(b.f.metrics.updates.WithLabelValues(reasonOtherApp)))
}

// TestFollowerRefusesOversizedMessages: a message over MaxMessageBytes is
// refused whole and counted.
func TestFollowerRefusesOversizedMessages(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxMessageBytes = 1024 })
	b.start(t)
	var us []decider.StatUpdate
	for i := range 100 {
		us = append(us, op("a", "operator-"+strconv.Itoa(i), 1))
	}
	b.send(t, us...)
	require.EqualValues(t, 0, b.table.Keys())
	require.Equal(t, 1.0, testutil.ToFloat64(b.f.metrics.messages.WithLabelValues("oversized")))
	b.send(t, op("a", "alice", 5))
	require.EqualValues(t, 1, b.table.Keys())
}

// TestFollowerCapsKeys: past MaxKeys updates for new keys are dropped and
// counted; known keys are still updated, and a freed key makes room.
func TestFollowerCapsKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxKeys = 2 })
	b.start(t)
	b.send(t, op("a", "k1", 1), op("a", "k2", 2), op("a", "k3", 3))
	require.EqualValues(t, 2, b.table.Keys())
	require.EqualValues(t, 0, b.table.Stat(decider.StatOperatorInvites1h, "a", "k3"))
	require.Equal(t, 1.0, testutil.ToFloat64(b.f.metrics.updates.WithLabelValues(reasonMaxKeys)))
	b.send(t, op("a", "k1", 9), op("a", "k2", 0), op("a", "k3", 3))
	require.EqualValues(t, 9, b.table.Stat(decider.StatOperatorInvites1h, "a", "k1"))
	require.EqualValues(t, 3, b.table.Stat(decider.StatOperatorInvites1h, "a", "k3"))
	require.EqualValues(t, 2, b.table.Keys())
}

// TestFollowerBoundsPendingBytes: while the follower is busy, messages
// beyond PendingBytes are dropped by the NATS client (and counted), not
// queued without bound.
func TestFollowerBoundsPendingBytes(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.PendingBytes = 8 << 10 })
	b.start(t)
	msg := decider.NewStatsMessage(nil)
	for i := range 40 {
		msg = decider.AppendStatUpdate(msg, op("a", strings.Repeat("k", 40)+strconv.Itoa(i), 1))
	}
	b.f.writeMu.Lock() // the follower is busy: its handler waits
	for range 50 {
		require.NoError(t, b.nc.Publish(decider.StatsSubject, msg))
	}
	require.NoError(t, b.nc.Flush())
	require.Eventually(t, func() bool {
		n, err := b.f.sub.Dropped()
		return err == nil && n > 0
	}, 10*time.Second, time.Millisecond)
	b.f.writeMu.Unlock()
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(b.f.metrics.messages.WithLabelValues("dropped")) > 0
	}, 10*time.Second, time.Millisecond)
}
