package projector

import (
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/invitegate/invitegate/decider"
)

// Dead-letter reasons: the reason column of dead_letters and the label of
// invitegate_projector_dead_letters_total.
const (
	ReasonDecode = "decode" // a line that is not a valid, storable event
	ReasonStore  = "store"  // a message PostgreSQL refused for a data reason
)

// wholeMessage is the line of a dead letter that holds a whole message.
const wholeMessage = -1

// deadLetter is one row of invitegate.dead_letters.
type deadLetter struct {
	stream     string
	seq        int64
	line       int
	subject    string
	msgID      string
	payload    []byte
	reason     string
	err        string
	deliveries int
	at         time.Time
	terminated bool
}

// badLineLetter records a line of d that did not decode; it is final.
func badLineLetter(d *delivery, b decider.BadLine, now time.Time) deadLetter {
	return deadLetter{
		stream: d.stream, seq: int64(d.seq), line: b.Index, subject: d.msg.Subject(),
		msgID: d.msg.Headers().Get("Nats-Msg-Id"), payload: b.Raw, reason: ReasonDecode,
		err: b.Err.Error(), deliveries: int(d.delivered), at: now, terminated: true,
	}
}

// storeLetter records a failed delivery of the whole message d.
func storeLetter(d *delivery, err error, now time.Time, final bool) deadLetter {
	return deadLetter{
		stream: d.stream, seq: int64(d.seq), line: wholeMessage, subject: d.msg.Subject(),
		msgID: d.msg.Headers().Get("Nats-Msg-Id"), payload: d.msg.Data(), reason: ReasonStore,
		err: err.Error(), deliveries: int(d.delivered), at: now, terminated: final,
	}
}

func (dl *deadLetter) queue(b *pgx.Batch) {
	terminated := pgtype.Timestamptz{Time: dl.at, Valid: dl.terminated}
	payload := dl.payload
	if payload == nil {
		payload = []byte{}
	}
	b.Queue(upsertDeadLetterSQL, dl.stream, dl.seq, dl.line, dl.subject, dl.msgID, payload,
		dl.reason, dl.err, dl.deliveries, dl.at, terminated)
}
