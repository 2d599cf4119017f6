package projector_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

type deadLetterRow struct {
	Seq        int64
	Line       int
	Reason     string
	Error      string
	Payload    string
	Deliveries int
	Terminated bool
}

func deadLetters(t *testing.T, b *bundle) []deadLetterRow {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT stream_seq, line, reason, error, convert_from(payload, 'UTF8'),
		deliveries, terminated_at IS NOT NULL FROM invitegate.dead_letters ORDER BY stream_seq, line`)
	require.NoError(t, err)
	var out []deadLetterRow
	for rows.Next() {
		var d deadLetterRow
		require.NoError(t, rows.Scan(&d.Seq, &d.Line, &d.Reason, &d.Error, &d.Payload, &d.Deliveries, &d.Terminated))
		out = append(out, d)
	}
	require.NoError(t, rows.Err())
	return out
}

func line(t *testing.T, ev decider.Event) string {
	t.Helper()
	b, err := decider.AppendEvent(nil, &ev)
	require.NoError(t, err)
	return string(b)
}

func TestPoisonGoesToDeadLettersAndTheRestFlows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := b.cfg
	cfg.MaxDeliver = 3
	_, reg := b.worker(t, cfg, b.js, b.pool)
	subject := decider.EventSubject("1400000000", decider.KindInvite)
	evs := invites(8)

	// seq 1: good. seq 2: a line of invalid JSON between two good ones.
	b.publish(t, evs[0:1], 1)
	b.publishRaw(t, subject, []byte(line(t, evs[1])+"{not json\n"+line(t, evs[2])), 3)
	// seq 3: wrong schema, unknown kind, id not a UUID, a NUL byte: each line dead.
	wrongSchema, unknownKind, badID, nul := evs[3], evs[3], evs[3], evs[3]
	wrongSchema.Schema = decider.SchemaVersion + 1
	unknownKind.Kind = "member_promoted"
	badID.ID = "not-a-uuid"
	nul.Operator = "op\x00erator"
	b.publishRaw(t, subject, []byte(line(t, wrongSchema)+line(t, unknownKind)+line(t, badID)+line(t, nul)), 4)
	// seq 4: an operator longer than the ingress accepts (it would be too
	// large for the rollup's index): that line alone is dead, its
	// neighbour in the message is stored.
	huge := evs[4]
	buf := make([]byte, 16000)
	_, _ = rand.Read(buf)
	huge.Operator = hex.EncodeToString(buf)
	b.publish(t, []decider.Event{huge, evs[5]}, 2)
	// seq 5: good, behind the poison.
	b.publish(t, evs[6:8], 2)

	require.Eventually(t, func() bool {
		return counterValue(t, reg, "invitegate_projector_dead_letters_total", "reason", "decode") == 6
	}, waitFor, 10*time.Millisecond)
	waitRows(t, b.pool, "invite_events", 6) // evs 0, 1, 2, 5, 6, 7
	for _, i := range []int{0, 1, 2, 5, 6, 7} {
		require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM invitegate.invite_events WHERE event_id = $1", evs[i].ID))
	}
	require.Zero(t, counterValue(t, reg, "invitegate_projector_dead_letters_total", "reason", "store"))

	dl := deadLetters(t, b)
	require.Len(t, dl, 6)
	want := []struct {
		seq    int64
		line   int
		reason string
		err    string
	}{
		{2, 1, "decode", "invalid character"},
		{3, 0, "decode", fmt.Sprintf("unsupported schema %d", decider.SchemaVersion+1)},
		{3, 1, "decode", `unknown kind "member_promoted"`},
		{3, 2, "decode", "id is not a UUID"},
		{3, 3, "decode", "operator contains a NUL character"},
		{4, 0, "decode", "operator is 32000 bytes, more than 256"},
	}
	for i, w := range want {
		require.Equal(t, w.seq, dl[i].Seq, i)
		require.Equal(t, w.line, dl[i].Line, i)
		require.Equal(t, w.reason, dl[i].Reason, i)
		require.Contains(t, dl[i].Error, w.err, i)
		require.True(t, dl[i].Terminated, i)
	}
	require.Equal(t, "{not json", dl[0].Payload)
	require.Contains(t, dl[5].Payload, huge.ID, "the line alone is kept")
	require.NotContains(t, dl[5].Payload, evs[5].ID)
	require.Eventually(t, func() bool {
		info, err := b.consumerInfo()
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, waitFor, 10*time.Millisecond, "every message acknowledged or terminated")
	requireRollupsMatchRows(t, b.pool)
}

func TestDataFailureThatHealsLeavesNoDeadLetter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.pool.Exec(ctx, `ALTER TABLE invitegate.invite_events
		ADD CONSTRAINT no_blocked CHECK (operator <> 'blocked')`)
	require.NoError(t, err)
	cfg := b.cfg
	cfg.MaxDeliver, cfg.BackOff = 100, []time.Duration{200 * time.Millisecond}
	_, reg := b.worker(t, cfg, b.js, b.pool)
	evs := invites(3)
	evs[1].Operator = "blocked"
	b.publish(t, evs, 1)

	require.Eventually(t, func() bool {
		dl := deadLetters(t, b)
		return len(dl) == 1 && !dl[0].Terminated && dl[0].Reason == "store"
	}, waitFor, 10*time.Millisecond, "a failed delivery is visible while it is retried")
	waitRows(t, b.pool, "invite_events", 2) // the others flow
	_, err = b.pool.Exec(ctx, `ALTER TABLE invitegate.invite_events DROP CONSTRAINT no_blocked`)
	require.NoError(t, err)

	waitRows(t, b.pool, "invite_events", 3)
	require.Eventually(t, func() bool { return len(deadLetters(t, b)) == 0 }, waitFor, 10*time.Millisecond)
	require.Zero(t, counterValue(t, reg, "invitegate_projector_dead_letters_total"))
	require.Positive(t, counterValue(t, reg, "invitegate_projector_batches_total", "result", "data_error"))
	requireRollupsMatchRows(t, b.pool)
}
