package stats

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func TestGroupSizeWaitsForItsStoredBase(t *testing.T) {
	t.Parallel()
	c := NewCounters(true)
	c.Apply(invite(t0, "a", "g", "alice", decider.OutcomeAllow, "m1", "m2"), 5) // in the stored size already
	c.Apply(invite(t0, "a", "h", "alice", decider.OutcomeAllow, "m3"), 5)       // after h's stored size
	c.Apply(membership(t0, decider.KindMemberJoined, "new", "Apply", "m4"), 6)  // never stored
	got := collect(func(e func(decider.StatUpdate)) { c.Changes(t0, e) })
	require.NotContains(t, got, "group_size/g", "no size is published before the base is in")
	require.Equal(t, int64(2), got["group_invites_1h/g"])
	require.Equal(t, []GroupKey{{"a", "g"}, {"a", "h"}, {"a", "new"}}, c.Unbased())

	c.Base(2, map[GroupKey]GroupSize{{"a", "g"}: {GroupKey{"a", "g"}, 10, 5}, {"a", "h"}: {GroupKey{"a", "h"}, 4, 3}})
	require.Equal(t, []GroupKey{{"a", "new"}}, c.Unbased(), "the group that arrived meanwhile waits")
	got = collect(func(e func(decider.StatUpdate)) { c.Changes(t0, e) })
	require.Equal(t, map[string]int64{"group_size/g": 10, "group_size/h": 5}, got)
	c.Base(1, nil)
	require.EqualValues(t, 1, c.Value(decider.StatGroupSize, "a", "new", t0))

	// Read again (another aggregator ahead of this one wrote g at 5):
	// events up to 5 are skipped, later ones count.
	c.Apply(membership(t0, decider.KindMemberExited, "g", "Quit", "m1"), 4)
	require.EqualValues(t, 10, c.Value(decider.StatGroupSize, "a", "g", t0))
	c.Apply(membership(t0, decider.KindMemberExited, "g", "Quit", "m1"), 7)
	require.EqualValues(t, 9, c.Value(decider.StatGroupSize, "a", "g", t0))
}

func TestUnsavedSizesAreRetriedUntilSaved(t *testing.T) {
	t.Parallel()
	c := NewCounters(true)
	c.Apply(membership(t0, decider.KindMemberJoined, "g", "Apply", "m1", "m2"), 1)
	c.Base(1, nil)
	sizes := c.Unsaved(3)
	require.Equal(t, []GroupSize{{GroupKey{"a", "g"}, 2, 3}}, sizes)
	require.Empty(t, c.Unsaved(3), "in flight")
	c.Saved(sizes, false)
	sizes = c.Unsaved(4)
	require.Equal(t, []GroupSize{{GroupKey{"a", "g"}, 2, 4}}, sizes, "a failed save is retried")

	c.Apply(membership(t0, decider.KindMemberExited, "g", "Quit", "m1"), 5) // changes while in flight
	c.Saved(sizes, true)
	require.Equal(t, []GroupSize{{GroupKey{"a", "g"}, 1, 5}}, c.Unsaved(5), "the newer size is saved too")
}

func TestIdleGroupsLeaveOnlyWhenStored(t *testing.T) {
	t.Parallel()
	scan := func(c *Counters, at time.Time) { c.Scan(at, false, DefaultGroupIdle, func(decider.StatUpdate) {}) }
	for _, store := range []bool{false, true} {
		c := NewCounters(store)
		c.Apply(membership(t0, decider.KindMemberJoined, "g", "Apply", "m1"), 1)
		c.Apply(membership(t0, decider.KindMemberJoined, "h", "Apply", "m1"), 1)
		c.Base(len(c.Unbased()), nil)
		c.Changes(t0, func(decider.StatUpdate) {})
		scan(c, t0.Add(25*time.Hour))
		if !store {
			require.Equal(t, 2, c.Keys(), "without a store a group with members stays")
			continue
		}
		require.Equal(t, 2, c.Keys(), "not stored yet")
		sizes := c.Unsaved(1)
		c.Saved(sizes[:1], true)
		scan(c, t0.Add(23*time.Hour))
		require.Equal(t, 2, c.Keys(), "active within GroupIdle")
		scan(c, t0.Add(25*time.Hour))
		require.Equal(t, 1, c.Keys(), "the stored idle group left; the one in flight stays")
		require.EqualValues(t, 1, c.Value(decider.StatGroupSize, "a", sizes[1].Group, t0))
	}
}

func TestEvictForgetsTheLeastRecentlyActive(t *testing.T) {
	t.Parallel()
	c := NewCounters(true)
	for i, op := range []string{"old", "mid", "new"} {
		at := t0.Add(time.Duration(i) * time.Minute)
		c.Apply(invite(at, "a", "g"+op, op, decider.OutcomeReject, "m"+op), uint64(i+1))
	}
	c.Base(len(c.Unbased()), nil) // every invite was rejected: sizes 0, nothing to save
	c.Changes(t0.Add(2*time.Minute), func(decider.StatUpdate) {})
	c.Apply(membership(t0, decider.KindMemberJoined, "gold", "Apply", "x"), 4) // unsaved: must stay
	require.Equal(t, 9, c.Keys())

	require.Equal(t, [3]int{1, 1, 0}, c.Evict(7), "the oldest minute first; by subject: operator, member, group")
	require.Zero(t, c.Value(decider.StatOperatorInvites1h, "a", "old", t0.Add(2*time.Minute)), "forgotten")
	require.EqualValues(t, 1, c.Value(decider.StatOperatorInvites1h, "a", "new", t0.Add(2*time.Minute)))
	require.EqualValues(t, 1, c.Value(decider.StatGroupSize, "a", "gold", t0), "an unsaved group is kept")
	require.Equal(t, [3]int{1, 1, 1}, c.Evict(4), "then the next minute")
	require.Equal(t, [3]int{}, c.Evict(100), "under the target: nothing")
}

func TestTopKeepsTheHighestOfEachStatistic(t *testing.T) {
	t.Parallel()
	c := NewCounters(false)
	for i, op := range []string{"a", "b", "c", "d"} {
		for range i + 1 {
			c.Apply(invite(t0, "app", "g"+op, op, decider.OutcomeAllow, "m"), 0)
		}
	}
	c.Apply(invite(t0, "other", "h", "z", decider.OutcomeReject, "m"), 0)
	top := map[string][]string{}
	for _, u := range c.Top(t0, 2) {
		top[u.App+"/"+u.Stat.String()] = append(top[u.App+"/"+u.Stat.String()], fmt.Sprintf("%s=%d", u.Key, u.Value))
	}
	require.Equal(t, map[string][]string{
		"app/operator_invites_1h":    {"d=4", "c=3"},
		"app/operator_invites_24h":   {"d=4", "c=3"},
		"app/group_invites_1h":       {"gd=4", "gc=3"},
		"app/group_size":             {"gd=4", "gc=3"},
		"app/member_invited_1h":      {"m=10"},
		"other/operator_invites_1h":  {"z=1"},
		"other/operator_invites_24h": {"z=1"},
		"other/operator_refused_24h": {"z=1"},
		"other/group_invites_1h":     {"h=1"},
		"other/member_invited_1h":    {"m=1"},
	}, top, "zeros are left out; ties would go by key")
	for _, u := range c.Top(t0.Add(25*time.Hour), 2) {
		require.Equal(t, decider.StatGroupSize, u.Stat, "a day later only sizes are left: %v", u)
	}
}
