package stats

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func TestSeenIDsWindowAndBound(t *testing.T) {
	t.Parallel()
	s := newSeenIDs(10*time.Minute, 1000)
	check := func(id string, at time.Time, dup, checked bool) {
		t.Helper()
		d, c := s.seen(id, at)
		require.Equal(t, [2]bool{dup, checked}, [2]bool{d, c}, "%s at %s", id, at)
	}
	check("a", t0, false, true)
	check("a", t0, true, true)
	check("b", t0.Add(9*time.Minute), false, true)
	check("a", t0, true, true) // still in the window
	check("c", t0.Add(11*time.Minute), false, true)
	check("a", t0, false, false) // its minute is forgotten: taken as new, not checked
	check("", t0.Add(11*time.Minute), false, false)

	// The bound: past 1000 ids the oldest minutes go first.
	for i := range 1500 {
		s.seen("x"+strconv.Itoa(i), t0.Add(12*time.Minute+time.Duration(i/200)*time.Minute))
	}
	require.LessOrEqual(t, s.ids(), 1000)
	check("x1499", t0.Add(19*time.Minute), true, true)
	check("x0", t0.Add(12*time.Minute), false, false)
}

// TestCopiesPastTheDuplicateWindowCountOnce: a batch stored again (a
// re-publish the stream no longer deduplicates) changes neither the
// counters nor the stored group size, before and after a restart.
func TestCopiesPastTheDuplicateWindowCountOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pool := pool(t)
	now := b.clock.Now()
	evs := []*decider.Event{
		membership(now, decider.KindMemberJoined, "g", "Apply", "m1", "m2"),
		invite(now, "a", "g", "alice", decider.OutcomeAllow, "m3", "m4"),
	}
	b.publish(t, evs[0])
	b.publish(t, evs[1])
	b.publish(t, evs...) // the copy, stored later under another sequence
	want := func(a *Aggregator) func() bool {
		return func() bool {
			require.NoError(t, a.Flush(context.Background()))
			return a.Value(decider.StatGroupSize, "a", "g") == 4 &&
				a.Value(decider.StatOperatorInvites1h, "a", "alice") == 2 &&
				a.Value(decider.StatMemberInvited1h, "a", "m3") == 1
		}
	}
	first := b.storedAggregator(t, pool)
	require.Eventually(t, want(first), 5*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 2, testutil.ToFloat64(first.metrics.duplicates))
	require.NoError(t, first.Flush(context.Background()))
	require.NoError(t, first.Stop(context.Background()))

	b.publish(t, evs[1]) // another copy, after the restart
	again := b.storedAggregator(t, pool)
	require.Eventually(t, want(again), 5*time.Second, 5*time.Millisecond)
	require.NoError(t, again.Flush(context.Background()))
	var size int64
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT size FROM invitegate.group_sizes WHERE app = 'a' AND group_id = 'g'`).Scan(&size))
	require.EqualValues(t, 4, size, "the stored size counts each event once")
}
