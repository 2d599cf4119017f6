package statsfeed

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// TestTableGrowsShrinksAndReadsConcurrently inserts enough keys to rebuild
// several times, removes most of them, and has a reader running
// throughout (go test -race checks the publication order).
func TestTableGrowsShrinksAndReadsConcurrently(t *testing.T) {
	t.Parallel()
	tb := NewTable()
	now := time.Unix(1_800_000_000, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if v := tb.Stat(decider.StatOperatorInvites1h, "a", "op-7"); v != 0 && v != 8 {
				t.Errorf("op-7 read %d", v)
				return
			}
		}
	})
	const n = 20_000
	for i := range n {
		tb.apply(decider.StatUpdate{Stat: decider.StatOperatorInvites1h, App: "a", Key: "op-" + strconv.Itoa(i), Value: int64(i + 1)}, now)
		tb.apply(decider.StatUpdate{Stat: decider.StatGroupSize, App: "a", Key: "op-" + strconv.Itoa(i), Value: 3}, now)
	}
	require.EqualValues(t, 2*n, tb.Keys(), "an operator and a group of the same id are two keys")
	for i := range n {
		require.EqualValues(t, i+1, tb.Stat(decider.StatOperatorInvites1h, "a", "op-"+strconv.Itoa(i)))
	}
	for i := 10; i < n; i++ { // the windows slid for all but ten operators
		tb.apply(decider.StatUpdate{Stat: decider.StatOperatorInvites1h, App: "a", Key: "op-" + strconv.Itoa(i), Value: 0}, now)
	}
	require.EqualValues(t, n+10, tb.Keys())
	require.Equal(t, n, tb.Sweep(now.Add(time.Hour), time.Minute)-10, "the sweep removes the idle groups and the ten operators")
	require.EqualValues(t, 0, tb.Keys())
	require.Equal(t, minCapacity, len(tb.cur.Load().keys), "the sweep shrank the slots")
	close(stop)
	wg.Wait()
	require.EqualValues(t, 0, tb.Stat(decider.StatOperatorInvites1h, "a", "op-7"))
}
