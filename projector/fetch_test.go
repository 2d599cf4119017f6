package projector_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// TestBacklogOfLargeMessagesDoesNotStall drains a backlog larger than
// nats.go's 64 MiB pending limit of a subscription. Pulling it by message
// count buffered all of it, nats.go dropped what did not fit (slow
// consumer), and the drain stopped until AckWait redelivered the rest.
func TestBacklogOfLargeMessagesDoesNotStall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const messages, size = 100, 800 << 10 // 80 MB; the server's max_payload is 1 MiB
	evs := invites(messages)
	for i := range evs {
		line, err := decider.AppendEvent(nil, &evs[i])
		require.NoError(t, err)
		data := append(line, bytes.Repeat([]byte{' '}, size-len(line))...) // a blank line, ignored
		b.publishRaw(t, decider.EventSubject(evs[i].App, evs[i].Kind), data, 1)
	}
	cfg := b.cfg
	cfg.AckWait = time.Minute
	b.worker(t, cfg, b.js, b.pool)

	require.Eventually(t, func() bool {
		return count(t, b.pool, "SELECT count(*) FROM invitegate.invite_events") == messages
	}, 20*time.Second, 10*time.Millisecond, "a stalled drain waits for AckWait (1 min)")
}
