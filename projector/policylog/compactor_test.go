package policylog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop"
	"github.com/invitegate/invitegate/decider/startstop/startstoptest"
	"github.com/invitegate/invitegate/migrations/policystore"
)

func waitCompacted(t testing.TB, c *Compactor, pos uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return c.Compacted() >= pos }, 20*time.Second, 5*time.Millisecond)
}

// TestCompactionPlusReplayEqualsFullReplay: the compactor's snapshots, each
// followed by a replay of the events after it, equal a fold of the whole
// log, for every app, across a restart of the compactor.
func TestCompactionPlusReplayEqualsFullReplay(t *testing.T) {
	t.Parallel()
	b := setup(t, "app1", "app2")
	ctx := context.Background()
	for _, app := range []string{"app1", "app2"} {
		b.publish(t, app, replaced(doc(t)))
	}
	for i := range 40 {
		app := []string{"app1", "app2"}[i%2]
		b.publish(t, app, listEvent(decider.ChangeListAdded, "banned", fmt.Sprintf("u%d", i), fmt.Sprintf("v%d", i)))
		if i%5 == 0 {
			b.publish(t, app, listEvent(decider.ChangeListRemoved, "banned", fmt.Sprintf("u%d", i)))
		}
	}
	bad := b.publishRaw(t, "app1", decider.ChangeListAdded, `{"kind":"list.added","list":"ghost","ids":["x"]}`)
	c := startCompactor(t, b.js, Config{CompactEvery: 7})
	waitCompacted(t, c, bad-bad%7)
	// Stop compacts what was read; wait until that is everything (a loaded
	// machine can leave the reader behind the last compaction).
	require.Eventually(t, func() bool { return c.seen.Load() >= bad }, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, c.Stop(ctx))
	require.Equal(t, bad, c.Compacted(), "Stop compacts what is pending")

	// More events after a restart: the new compactor resumes at the
	// checkpoint and loads each app's snapshot.
	next := doc(t)
	next.Rules[0].RefuseMember = "member in lists.banned"
	b.publish(t, "app2", replaced(next))
	last := b.publish(t, "app1", listEvent(decider.ChangeListAdded, "banned", "late"))
	c2 := startCompactor(t, b.js, Config{CompactEvery: 1000, CompactInterval: 20 * time.Millisecond})
	waitCompacted(t, c2, last)

	for _, app := range []string{"app1", "app2"} {
		want := b.fullFold(t, app).Snapshot()
		snap, pos, err := policystore.LoadSnapshot(ctx, b.logs[app].Stores(), app, 0, nil)
		require.NoError(t, err)
		require.Equal(t, last, pos, app)
		requireSameSnapshot(t, want, snap)
		// And the state a replica or the CLI builds: snapshot plus replay.
		got, err := b.logs[app].State(ctx, 0, nil)
		require.NoError(t, err)
		requireSameSnapshot(t, want, got.Snapshot())
	}
}

func TestCompactorConfigAndLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := NewCompactor(Config{CompactEvery: -1}, b.js, discard(), nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
	c := startCompactor(t, b.js, Config{})
	require.NoError(t, c.Stop(context.Background()))
	require.NoError(t, c.Stop(context.Background()), "twice")
	require.ErrorIs(t, c.Start(context.Background()), startstop.ErrStopped, "a stopped compactor does not start again")
}

func TestCompactorStartStop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component {
		c, err := NewCompactor(Config{RetryWait: 20 * time.Millisecond}, b.js, discard(), prometheus.NewRegistry())
		require.NoError(t, err)
		return c
	})
}

func TestRevisionWriterStartStop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pool := newPool(t)
	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component {
		w, err := NewRevisionWriter(Config{RetryWait: 20 * time.Millisecond}, b.js, pool, discard(), prometheus.NewRegistry())
		require.NoError(t, err)
		return w
	})
}
