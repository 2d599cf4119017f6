package projector

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

func benchEvents(n int) []event {
	now := time.Now().UTC()
	evs := make([]event, n)
	for i := range evs {
		id := uuid.Must(uuid.NewV7())
		s := strconv.Itoa(i)
		evs[i] = event{id: id, seq: uint64(i), Event: decider.Event{
			Schema: 1, ID: id.String(), Kind: decider.KindInvite, App: "1400000000",
			Command: decider.CommandBeforeInviteJoinGroup, GroupID: "@TGS#" + s, GroupType: "Public",
			Operator: "op" + strconv.Itoa(i%10000), Members: []string{"u" + s + "a", "u" + s + "b"},
			Outcome: decider.OutcomeAllow, Platform: "iOS", ReceivedAt: now, DecidedAt: now,
		}}
	}
	return evs
}

// BenchmarkWriteBatch times writeBatch alone (no NATS, no decoding) for
// batches of 1000 invites with 2 members each; ns/op is per event.
func BenchmarkWriteBatch(b *testing.B) {
	b.ReportAllocs()
	pool, err := pgxpool.New(context.Background(), pgtest.NewMigrated(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	evs := benchEvents(b.N)
	parts := newPartitions()
	b.ResetTimer()
	for start := 0; start < len(evs); start += 1000 {
		r := &batchRows{}
		for i := start; i < min(start+1000, len(evs)); i++ {
			r.invites = append(r.invites, &evs[i])
		}
		if _, err := writeBatch(context.Background(), pool, parts, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode times decoding one NDJSON message of 100 events; ns/op is
// per event.
func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	var data []byte
	for _, ev := range benchEvents(100) {
		data, _ = decider.AppendEvent(data, &ev.Event)
	}
	d := &delivery{}
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		d.events, d.bad = d.events[:0], nil
		d.decodeLines(data)
	}
}
