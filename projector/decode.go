package projector

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/decider"
)

// ErrUnstorable is wrapped by the errors of events that decode but cannot be
// stored as they are (an id that is not a UUID, a NUL byte in a string, a
// string longer than the ingress accepts (decider.Event.CheckLengths: such
// a value could outgrow a B-tree key of a rollup), a policy revision
// beyond bigint).
var ErrUnstorable = errors.New("event cannot be stored")

// delivery is one NATS message of the event stream and what its NDJSON
// lines decoded to.
type delivery struct {
	msg       jetstream.Msg
	stream    string
	seq       uint64 // stream sequence
	delivered uint64 // deliveries so far, this one included
	events    []event
	bad       []decider.BadLine
}

// event is a decoded, storable event with its parsed id.
type event struct {
	id  uuid.UUID
	seq uint64 // stream sequence of its message
	decider.Event
}

// decode reads msg's metadata and lines. Lines that do not decode, fail
// decider's checks or cannot be stored become bad lines; the others events.
func decode(msg jetstream.Msg) (*delivery, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, fmt.Errorf("message metadata: %w", err)
	}
	d := &delivery{msg: msg, stream: meta.Stream, seq: meta.Sequence.Stream, delivered: meta.NumDelivered,
		events: make([]event, 0, expectedEvents(msg))}
	d.decodeLines(msg.Data())
	return d, nil
}

// expectedEvents is lineCount(msg), bounded by what the data can hold (a
// valid event takes more than 64 bytes), so that a wrong header cannot
// make decode allocate more than the message's size warrants.
func expectedEvents(msg jetstream.Msg) int {
	return min(lineCount(msg), len(msg.Data())/64+1)
}

// decodeLines decodes every line of an NDJSON batch.
func (d *delivery) decodeLines(data []byte) {
	for idx, line := range decider.Lines(data) {
		d.decodeLine(idx, line)
	}
}

func (d *delivery) decodeLine(idx int, line []byte) {
	ev := event{seq: d.seq}
	var err error
	if ev.Event, err = decider.DecodeEvent(line); err == nil {
		ev.id, err = storable(&ev.Event)
	}
	if err != nil {
		d.bad = append(d.bad, decider.BadLine{Index: idx, Raw: append([]byte(nil), line...), Err: err})
		return
	}
	d.events = append(d.events, ev)
}

// storable checks what PostgreSQL would refuse, so that it is refused here,
// line by line, rather than failing a whole batch.
func storable(ev *decider.Event) (uuid.UUID, error) {
	id, err := uuid.Parse(ev.ID)
	if err != nil {
		return id, fmt.Errorf("%w: event %q: id is not a UUID: %w", ErrUnstorable, ev.ID, err)
	}
	if ev.PolicyRevision > math.MaxInt64 {
		return id, fmt.Errorf("%w: event %q: policy revision %d exceeds bigint", ErrUnstorable, ev.ID, ev.PolicyRevision)
	}
	if field := nulField(ev); field != "" {
		return id, fmt.Errorf("%w: event %q: %s contains a NUL character", ErrUnstorable, ev.ID, field)
	}
	if err := ev.CheckLengths(); err != nil {
		return id, fmt.Errorf("%w: %w", ErrUnstorable, err)
	}
	return id, nil
}

// nulField names the first string field holding a NUL (PostgreSQL text and
// jsonb cannot hold one), or returns "".
func nulField(ev *decider.Event) string {
	fields := [...]struct{ name, s string }{
		{"app", ev.App}, {"command", ev.Command}, {"group_id", ev.GroupID}, {"group_type", ev.GroupType},
		{"operator", ev.Operator}, {"outcome", string(ev.Outcome)}, {"error_info", ev.ErrorInfo},
		{"reject_rule", ev.RejectRule}, {"change_type", ev.ChangeType}, {"platform", ev.Platform},
		{"client_ip", ev.ClientIP}, {"limit", ev.Limit},
	}
	for _, f := range fields {
		if hasNUL(f.s) {
			return f.name
		}
	}
	if anyNUL(ev.Members) {
		return "members"
	}
	for _, r := range ev.Refused {
		if hasNUL(r.Member) || hasNUL(r.Rule) {
			return "refused"
		}
	}
	for _, s := range ev.Shadow {
		if hasNUL(s.Rule) || hasNUL(s.Kind) || anyNUL(s.Members) {
			return "shadow"
		}
	}
	return ""
}

func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

func anyNUL(ss []string) bool {
	for _, s := range ss {
		if hasNUL(s) {
			return true
		}
	}
	return false
}
