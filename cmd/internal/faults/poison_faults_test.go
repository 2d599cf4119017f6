//go:build faults

package faults_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/decider"
)

// poisoner publishes poison messages straight into the event stream, with
// good events mixed in; good records the requests those good events stand for.
type poisoner struct {
	t          *testing.T
	js         jetstream.JetStream
	good       []loadgen.Record
	decodeDead int // dead letters expected (lines that do not decode or are past a bound)
	seq        int
}

// event is a good invite event whose group id the checker knows as
// request poison<round>.<n>.
func (p *poisoner) event(appID string) decider.Event {
	p.seq++
	key := fmt.Sprintf("poison.%d", p.seq)
	op, members := "poison-op", []string{"m1", "m2"}
	now := time.Now().UTC()
	p.good = append(p.good, loadgen.Record{Key: key, App: appID, Command: loadgen.CommandBeforeInviteJoinGroup,
		GroupID: "@TGS#p." + key, Operator: op, Members: members, Status: 200, Outcome: loadgen.OutcomeAllow})
	return decider.Event{Schema: decider.SchemaVersion, ID: decider.NewEventID(), Kind: decider.KindInvite,
		App: appID, Command: decider.CommandBeforeInviteJoinGroup, GroupID: "@TGS#p." + key, GroupType: "Public",
		Operator: op, Members: members, Outcome: decider.OutcomeAllow, PolicyRevision: 1,
		ReceivedAt: now, DecidedAt: now}
}

func (p *poisoner) line(ev decider.Event) []byte {
	b, err := decider.AppendEvent(nil, &ev)
	require.NoError(p.t, err)
	return b
}

func (p *poisoner) publish(ctx context.Context, appID string, data []byte, withID bool) {
	msg := nats.NewMsg(decider.EventSubject(appID, decider.KindInvite))
	msg.Data = data
	if withID {
		msg.Header.Set(jetstream.MsgIDHeader, decider.NewEventID())
	}
	_, err := p.js.PublishMsg(ctx, msg)
	require.NoError(p.t, err)
}

func garbage(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return bytes.ReplaceAll(b, []byte("\n"), []byte("x")) // one line
}

// round publishes one of each poison: 8 lines that do not decode or are
// past a bound (each dead-lettered alone), and good events among them.
func (p *poisoner) round(ctx context.Context) {
	p.publish(ctx, app, garbage(200), true)
	p.publish(ctx, app, append(append(p.line(p.event(app)), "{not json\n"...), p.line(p.event(app))...), true)
	wrongSchema, unknownKind, badID, nul := p.event(app), p.event(app), p.event(app), p.event(app)
	p.good = p.good[:len(p.good)-4] // these four are dead, not good
	wrongSchema.Schema = decider.SchemaVersion + 1
	unknownKind.Kind = "member_promoted"
	badID.ID = "not-a-uuid"
	nul.Operator = "op\x00erator"
	p.publish(ctx, app, bytes.Join([][]byte{p.line(wrongSchema), p.line(unknownKind), p.line(badID), p.line(nul)}, nil), true)
	p.publish(ctx, app, garbage(256<<10), true)
	p.decodeDead += 7

	huge := p.event(app)
	p.good = p.good[:len(p.good)-1]
	buf := make([]byte, 16000)
	_, _ = rand.Read(buf)
	huge.Operator = hex.EncodeToString(buf) // past the operator's bound (and the rollup index's)
	p.publish(ctx, app, p.line(huge), true)
	p.decodeDead++ // checked before the write: dead-lettered alone, never its batch

	p.publish(ctx, app, p.line(p.event(app)), false) // no headers at all
	p.publish(ctx, "999", p.line(p.event("999")), true)
	p.publish(ctx, app, nil, true) // empty: nothing to store, nothing dead
}

// deadLetters counts dead letters: decode lines, terminated store messages, all.
func (c *cluster) deadLetters() (decode, store, all int) {
	conn, err := pgx.Connect(c.ctx, c.dsn)
	require.NoError(c.t, err)
	defer conn.Close(context.WithoutCancel(c.ctx))
	require.NoError(c.t, conn.QueryRow(c.ctx, `SELECT count(*) FILTER (WHERE reason = 'decode'),
		count(*) FILTER (WHERE reason = 'store' AND terminated_at IS NOT NULL), count(*) FROM invitegate.dead_letters`).
		Scan(&decode, &store, &all))
	return decode, store, all
}

// Scenario 6: poison messages in the stream under load: every bad line ends
// in dead_letters, the good events around them are stored, and the stream
// behind them keeps flowing (no loadgen request lost).
func TestFaultPoison(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{projectorArgs: []string{"--max-deliver", "2"}})
	load := c.startLoad(loadRate, 30*time.Second)
	c.waitStored(loadRate)
	nc, err := nats.Connect(c.nats.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	p := &poisoner{t: t, js: js}
	for range 3 {
		p.round(c.ctx)
		hold(c.ctx, 3*time.Second)
	}
	logf("faults: poison: published %d undecodable or unstorable lines, %d good events among them", p.decodeDead, len(p.good))

	records := append(load.wait(t), p.good...)
	res := c.settle(records, 0)
	require.Eventually(t, func() bool {
		d, _, _ := c.deadLetters()
		return d >= p.decodeDead
	}, drainLimit, 200*time.Millisecond)
	decode, store, all := c.deadLetters()
	t.Logf("poison: dead letters decode=%d store=%d all=%d", decode, store, all)
	res.Unexpected += all - p.decodeDead // a dead letter we did not poison
	verdict(t, "poison", res, expectation{})
}
