package projector_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func TestDuplicatesStoredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	evs := invites(40)
	b.publish(t, evs, 10)
	b.publish(t, evs[5:15], 10)                              // the same events in other messages
	b.publish(t, []decider.Event{evs[0], evs[0], evs[1]}, 3) // and repeated inside one message
	_, reg := b.worker(t, b.cfg, b.js, b.pool)

	require.Eventually(t, func() bool {
		return counterValue(t, reg, "invitegate_projector_duplicates_total") >= 13
	}, waitFor, 10*time.Millisecond)
	waitRows(t, b.pool, "invite_events", 40)
	waitRows(t, b.pool, "invite_members", 80)
	require.Equal(t, 40.0, counterValue(t, reg, "invitegate_projector_events_total"))
	requireRollupsMatchRows(t, b.pool)
}

func TestTwoWorkersOneConsumer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := b.cfg
	cfg.BatchSize = 50
	_, reg1 := b.worker(t, cfg, b.connect(t), b.pool)
	_, reg2 := b.worker(t, cfg, b.connect(t), newPool(t, b.dsn))
	evs := invites(2000)
	b.publish(t, evs, 10)
	b.publish(t, evs[500:1500], 20) // copies, which the two workers race to store

	waitRows(t, b.pool, "invite_events", 2000)
	waitRows(t, b.pool, "invite_members", 4000)
	require.Eventually(t, func() bool {
		info, err := b.consumerInfo()
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, waitFor, 10*time.Millisecond)
	ev1 := counterValue(t, reg1, "invitegate_projector_events_total")
	ev2 := counterValue(t, reg2, "invitegate_projector_events_total")
	require.Equal(t, 2000.0, ev1+ev2)
	require.Positive(t, ev1, "both workers took part")
	require.Positive(t, ev2, "both workers took part")
	// At least the 1000 copies; more if a slow machine let AckWait expire
	// on a buffered message, which is then redelivered and skipped.
	require.GreaterOrEqual(t, counterValue(t, reg1, "invitegate_projector_duplicates_total")+
		counterValue(t, reg2, "invitegate_projector_duplicates_total"), 1000.0)
	requireRollupsMatchRows(t, b.pool)
}

func (b *bundle) consumerInfo() (*jetstream.ConsumerInfo, error) {
	c, err := b.js.Consumer(context.Background(), decider.EventStream, "projector")
	if err != nil {
		return nil, err
	}
	return c.Info(context.Background())
}
