package decider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"time"
)

// The JetStream side of the event contract. Events travel in batches: one
// NATS message holds several events of one app and kind, one JSON object per
// line (NDJSON), so that one publish, one PubAck, one fsync and one dedup
// entry cover many callbacks. The message carries the headers below; its
// Nats-Msg-Id is the batch id, so a re-published batch is dropped by the
// stream's duplicate window, and the event ids inside make every write
// downstream idempotent beyond that window.
const (
	EventStream        = "INVITEGATE_EVENTS"
	EventSubjectPrefix = "invitegate.events."
	EventSubjects      = "invitegate.events.>"

	HeaderSchema  = "Invitegate-Schema" // SchemaVersion of every event in the batch
	HeaderCount   = "Invitegate-Events" // number of events (lines) in the batch
	ContentType   = "application/x-ndjson"
	HeaderContent = "Content-Type"
)

// EventSubject returns invitegate.events.<app>.<kind>. Characters that NATS
// gives meaning to in a subject token ('.', '*', '>', whitespace) are replaced
// by '_' so that no app id can spill into another's subject space.
func EventSubject(app, kind string) string {
	return EventSubjectPrefix + subjectToken(app) + "." + subjectToken(kind)
}

func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	if !strings.ContainsAny(s, ".*> \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// AppendEvent appends ev as one NDJSON line (JSON plus '\n') to buf. The
// encoding is hand-written (it runs once per callback) and decodes exactly
// like encoding/json's. An EventTime outside years [1, 9999] (IM's, so the
// caller's) is written as absent; like encoding/json, it refuses a
// ReceivedAt or DecidedAt outside [0, 9999], which RFC 3339 cannot express.
func AppendEvent(buf []byte, ev *Event) ([]byte, error) {
	for _, t := range []*time.Time{&ev.ReceivedAt, &ev.DecidedAt} {
		if t != nil && (t.Year() < 0 || t.Year() > 9999) {
			return buf, timeRangeError(ev.ID, *t)
		}
	}
	buf = appendEventJSON(buf, ev)
	return append(buf, '\n'), nil
}

// timeRangeError is AppendEvent's error, built apart so that the event
// itself does not escape to the heap on every call.
func timeRangeError(id string, t time.Time) error {
	return fmt.Errorf("encode event %s: time %v outside years 0-9999", id, t)
}

// BadLine is a line of a batch that is not a valid event.
type BadLine struct {
	Index int    // 0-based line number in the batch
	Raw   []byte // the line as received
	Err   error
}

// Lines yields the non-empty lines of an NDJSON batch, trimmed, with their
// 0-based index among the non-empty lines (the Index of a BadLine).
func Lines(data []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		idx := 0
		for len(data) > 0 {
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			if line = bytes.TrimSpace(line); len(line) == 0 {
				continue
			}
			if !yield(idx, line) {
				return
			}
			idx++
		}
	}
}

// DecodeEvent decodes one line of a batch: it must be JSON of an event with
// an id, a known kind, a schema from MinSchemaVersion to SchemaVersion, an app and a received_at. It decodes
// exactly as encoding/json.Unmarshal into an Event would, with the same
// errors: a hand-written decoder takes every line it is sure of (all that
// AppendEvent writes, in a fifth of the time), encoding/json the others.
func DecodeEvent(line []byte) (Event, error) {
	var ev Event
	if !decodeEventFast(line, &ev) {
		ev = Event{}
		if err := json.Unmarshal(line, &ev); err != nil {
			return ev, err
		}
	}
	return ev, ev.validate()
}

// DecodeBatch splits an NDJSON batch into events. Lines that DecodeEvent
// refuses are returned as BadLines; the good ones are still returned.
// Empty lines are ignored.
func DecodeBatch(data []byte) ([]Event, []BadLine) {
	var (
		events []Event
		bad    []BadLine
	)
	for idx, line := range Lines(data) {
		ev, err := DecodeEvent(line)
		if err != nil {
			bad = append(bad, BadLine{Index: idx, Raw: append([]byte(nil), line...), Err: err})
			continue
		}
		events = append(events, ev)
	}
	return events, bad
}

func (ev *Event) validate() error {
	switch {
	case ev.Schema < MinSchemaVersion || ev.Schema > SchemaVersion:
		return fmt.Errorf("event %q: unsupported schema %d (want %d to %d)", ev.ID, ev.Schema, MinSchemaVersion, SchemaVersion)
	case ev.ID == "":
		return fmt.Errorf("event without id")
	case ev.Kind != KindInvite && ev.Kind != KindMemberJoined && ev.Kind != KindMemberExited:
		return fmt.Errorf("event %q: unknown kind %q", ev.ID, ev.Kind)
	case ev.App == "":
		return fmt.Errorf("event %q: empty app", ev.ID)
	case ev.ReceivedAt.IsZero():
		return fmt.Errorf("event %q: no received_at", ev.ID)
	}
	return nil
}
