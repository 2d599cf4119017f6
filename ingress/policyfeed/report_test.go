package policyfeed

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// TestEventsThatChangeNothingWriteNoStatus: while caught up, events the
// replica rejects (here copies republished into the log, as a stream
// republishing the status bucket there makes at each status write) change
// nothing and write no status, so such a stream cannot loop; each change
// is still written at once and --wait sees it reach the replica.
func TestEventsThatChangeNothingWriteNoStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rev := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	r := newReplica(t, b.js, Config{ReplicaID: "a", StatusInterval: 25 * time.Second}).start(t)
	r.waitRevision(t, rev)
	waitLive := func(rev uint64) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		live, err := b.log.WaitRevision(wctx, rev, 10*time.Second)
		require.NoError(t, err)
		require.Len(t, live, 1)
		require.Equal(t, rev, live[0].Revision)
	}
	waitLive(rev)
	written := func() float64 {
		return r.counter(t, "invitegate_policy_status_writes_total", "result", "ok") +
			r.counter(t, "invitegate_policy_status_writes_total", "result", "superseded")
	}
	before := written()

	const copies = 50
	for i := range copies {
		msg := nats.NewMsg(decider.PolicySubject(testApp, decider.ChangeListAdded))
		msg.Data = []byte(changeJSON(t, listChange(decider.ChangeListAdded, "banned", fmt.Sprint("c", i))))
		msg.Header.Set(jetstream.StreamHeader, "STATUS_COPY")
		_, err := b.js.PublishMsg(ctx, msg)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		return r.counter(t, "invitegate_policy_events_rejected_total", "reason", decider.RejectRepublished) == copies
	}, 10*time.Second, 5*time.Millisecond, "the replica read every copy")
	for i := range 3 {
		rev = b.publish(t, listChange(decider.ChangeListAdded, "banned", fmt.Sprint("u", i)))
		waitLive(rev)
	}
	// One write per change; one more may still be under way from the start.
	require.LessOrEqual(t, written(), before+3+1, "status writes after %d events that changed nothing and 3 changes", copies)
	require.Zero(t, r.counter(t, "invitegate_policy_status_writes_total", "result", "error"))
}

// TestFollowerReadsOnWhenItsConsumerIsDeleted: the consumer a replica
// reads through disappears (its server died while the replica's own
// connection stayed up); the replica reads on through a new one, from the
// event after the last it applied.
func TestFollowerReadsOnWhenItsConsumerIsDeleted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rev := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	r := newReplica(t, b.js, Config{}).start(t)
	r.waitRevision(t, rev)
	stream, err := b.js.Stream(ctx, decider.PolicyStream)
	require.NoError(t, err)
	names := stream.ConsumerNames(ctx)
	var deleted int
	for name := range names.Name() {
		require.NoError(t, stream.DeleteConsumer(ctx, name))
		deleted++
	}
	require.NoError(t, names.Err())
	require.Equal(t, 1, deleted, "the replica reads through one consumer")

	rev = b.publish(t, listChange(decider.ChangeListAdded, "banned", "after"))
	s := r.waitRevision(t, rev)
	require.Equal(t, []string{"after"}, s.ListEntries("banned"))
	require.Zero(t, followErrors(t, r), "the reader replaced its consumer by itself")
}

// TestStatusIsWrittenAgainAfterTheServerRestarts: the status bucket is in
// memory; after its server restarts, the replica writes its status again
// at once (retrying while JetStream starts), not at its next periodic
// report.
func TestStatusIsWrittenAgainAfterTheServerRestarts(t *testing.T) {
	t.Parallel()
	nats := newRestartable(t)
	log, rev := nats.log, nats.rev
	r := newReplica(t, dial(t, nats.url), Config{ReplicaID: "a", StatusInterval: 25 * time.Second}).start(t)
	r.waitRevision(t, rev)
	reported := func(log *policystore.Log) bool {
		list, err := log.Replicas(context.Background(), 0)
		return err == nil && len(list) == 1 && list[0].Revision == rev
	}
	require.Eventually(t, func() bool { return reported(log) }, 10*time.Second, 10*time.Millisecond)

	nats.stop()
	log2 := nats.restart(t)
	require.Eventually(t, func() bool { return reported(log2) }, 10*time.Second, 10*time.Millisecond,
		"status written again after the restart; logs:\n%s", r.logs.String())
}
