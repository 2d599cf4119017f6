package policyfeed

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// TestWaitRevisionWaitsForEveryLiveReplica: three replicas follow the log;
// WaitRevision returns once all three report the new revision.
func TestWaitRevisionWaitsForEveryLiveReplica(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.log.WaitRevision(ctx, 1, time.Second)
	require.ErrorIs(t, err, policystore.ErrNoReplicas)

	rev := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	var rs []*replica
	for _, id := range []string{"a", "b", "c"} {
		r := newReplica(t, b.js, Config{ReplicaID: id, StatusInterval: 100 * time.Millisecond}).start(t)
		r.waitRevision(t, rev)
		rs = append(rs, r)
	}
	// A replica reports its status after it applies the revision: wait for
	// all three reports, so that WaitRevision sees every live replica.
	require.Eventually(t, func() bool {
		list, err := b.log.Replicas(ctx, 0)
		return err == nil && len(list) == 3
	}, 10*time.Second, 10*time.Millisecond, "three replicas report their status")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	live, err := b.log.WaitRevision(wctx, rev, 10*time.Second)
	require.NoError(t, err)
	require.Len(t, live, 3)

	rev2 := b.publish(t, listChange(decider.ChangeListAdded, "banned", "x"))
	live, err = b.log.WaitRevision(wctx, rev2, 10*time.Second)
	require.NoError(t, err)
	require.Len(t, live, 3)
	for i, st := range live {
		require.Equal(t, []string{"a", "b", "c"}[i], st.Replica)
		require.GreaterOrEqual(t, st.Revision, rev2)
		require.Equal(t, policystore.SourceLog, st.Source)
		require.Equal(t, rs[i].engine.Snapshot().Revision(), rev2, "the replica decides with it")
	}

	require.NoError(t, rs[2].f.Stop(ctx))
	list, err := b.log.Replicas(ctx, 0)
	require.NoError(t, err)
	require.Len(t, list, 2, "a stopped replica removes its status")
	require.Equal(t, testApp, list[0].App)

	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	_, err = b.log.WaitRevision(short, rev2+100, 10*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded, "no replica has that revision")
}

// TestWaitRevisionIgnoresStaleReplicas: a status entry that stopped being
// refreshed does not hold --wait up.
func TestWaitRevisionIgnoresStaleReplicas(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	require.NoError(t, b.log.PutStatus(ctx, policystore.ReplicaStatus{App: testApp, Replica: "dead", Revision: 0}))
	rev := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	r := newReplica(t, b.js, Config{ReplicaID: "live", StatusInterval: 50 * time.Millisecond}).start(t)
	r.waitRevision(t, rev)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	live, err := b.log.WaitRevision(wctx, rev, 400*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, live, 1)
	require.Equal(t, "live", live[0].Replica)
	all, err := b.log.Replicas(ctx, 0)
	require.NoError(t, err)
	require.Len(t, all, 2)
}

// TestCompactedSnapshotPlusReplayEqualsFullReplay: a replica starting from
// a compacted snapshot replays only the events after it and ends with the
// same policy as one replaying the whole log.
func TestCompactedSnapshotPlusReplayEqualsFullReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	for i := range 30 {
		b.publish(t, listChange(decider.ChangeListAdded, "banned", "u"+string(rune('a'+i%26)), "v"+string(rune('a'+i))))
		if i%7 == 3 {
			b.publish(t, listChange(decider.ChangeListRemoved, "banned", "u"+string(rune('a'+i%26))))
		}
	}
	b.publishRaw(t, decider.ChangeListAdded, `{"kind":"list.added","list":"nope","ids":["x"]}`)
	mid, err := b.log.Head(ctx)
	require.NoError(t, err)
	fold, err := b.log.State(ctx, mid, nil)
	require.NoError(t, err)
	require.NoError(t, policystore.SaveSnapshot(ctx, b.log.Stores().Snapshots, testApp, fold.Snapshot(), fold.Position(), policystore.SnapshotSeal{}))
	info, ok, err := policystore.StatSnapshot(ctx, b.log.Stores().Snapshots, testApp)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, policystore.SnapshotInfo{Revision: fold.Revision(), Position: mid}, info)

	next := parseDoc(t, testPolicy)
	next.Rules[0].ErrorCode = 10150
	b.publish(t, replacedBy(next))
	last := b.publish(t, listChange(decider.ChangeListAdded, "banned", "tail"))

	compacted := newReplica(t, b.js, Config{ReplicaID: "compacted"}).start(t)
	full := newReplica(t, b.js, Config{ReplicaID: "full"})
	// The full replay: a fold over the whole log without the snapshot.
	want := decider.NewFold(nil, 0)
	require.NoError(t, b.log.Read(ctx, 1, 0, func(r policystore.Record) error {
		_, _ = want.ApplyEvent(r.Kind, r.Data, r.Seq)
		return nil
	}))
	got := compacted.waitRevision(t, last)
	ws := want.Snapshot()
	require.Equal(t, ws.Revision(), got.Revision())
	require.Equal(t, ws.Document(), got.Document())
	require.Equal(t, ws.ListNames(), got.ListNames())
	for _, n := range ws.ListNames() {
		require.Equal(t, ws.ListEntries(n), got.ListEntries(n), n)
	}
	require.Equal(t, 2.0, compacted.counter(t, "invitegate_policy_events_applied_total", "kind", decider.ChangeListAdded)+
		compacted.counter(t, "invitegate_policy_events_applied_total", "kind", decider.ChangeReplaced),
		"only the two events after the snapshot were replayed")
	require.Contains(t, compacted.logs.String(), "loaded the compacted policy snapshot")
	_ = full

	// State up to a revision before the snapshot replays from the start.
	early, err := b.log.State(ctx, 2, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(2), early.Revision())
	require.Len(t, early.Snapshot().ListEntries("banned"), 2)
}

func TestRecordsAndState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	head, err := b.log.Head(ctx)
	require.NoError(t, err)
	require.Zero(t, head)
	fold, err := b.log.State(ctx, 0, nil)
	require.NoError(t, err)
	require.Nil(t, fold.Snapshot(), "an empty log has no policy")

	b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	bad := b.publishRaw(t, decider.ChangeListRemoved, `{"kind":"list.removed","list":"ghost","ids":["x"]}`)
	b.publish(t, listChange(decider.ChangeListAdded, "banned", "x"))
	var rejected []uint64
	fold, err = b.log.State(ctx, 0, func(r policystore.Record, err error) {
		require.ErrorIs(t, err, decider.ErrInvalidChange)
		rejected = append(rejected, r.Seq)
	})
	require.NoError(t, err)
	require.Equal(t, []uint64{bad}, rejected)
	require.Equal(t, uint64(3), fold.Revision())

	var kinds []string
	require.NoError(t, b.log.Read(ctx, 2, 2, func(r policystore.Record) error {
		kinds = append(kinds, r.Kind)
		require.False(t, r.Stored.IsZero())
		return nil
	}))
	require.Equal(t, []string{decider.ChangeListRemoved}, kinds)
}
