package policystore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
)

// Log is one app's policy log on JetStream: the events, the compacted
// snapshot the projector keeps, and the status of the ingress replicas
// following it. It is what the CLI, the Follower and tests use; it is safe
// for concurrent use.
type Log struct {
	js     jetstream.JetStream
	app    string
	stores natsconn.PolicyStores
	trust  *decider.Trust      // events State and Document apply; nil: all
	signer *decider.SigningKey // signs what Publish sends; nil: unsigned
}

// WithTrust returns a copy of l whose State and Document apply only the
// events trust accepts (see decider.Trust.VerifyEvent).
func (l *Log) WithTrust(trust *decider.Trust) *Log {
	c := *l
	c.trust = trust
	return &c
}

// WithSigner returns a copy of l whose Publish signs every event with key.
func (l *Log) WithSigner(key *decider.SigningKey) *Log {
	c := *l
	c.signer = key
	return &c
}

// Trust returns the trust State applies (nil: none).
func (l *Log) Trust() *decider.Trust { return l.trust }

// OpenLog ensures the policy stream and buckets (cfg) and returns app's log.
func OpenLog(ctx context.Context, js jetstream.JetStream, app string, cfg natsconn.PolicyStreamConfig) (*Log, error) {
	if app == "" {
		return nil, errors.New("open policy log: no app")
	}
	var st natsconn.PolicyStores
	err := Retry(ctx, func(ctx context.Context) error {
		var err error
		st, err = natsconn.EnsurePolicyStores(ctx, js, cfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Log{js: js, app: app, stores: st}, nil
}

// App returns the app whose log this is.
func (l *Log) App() string { return l.app }

// Stores returns the stream and buckets of the policy log.
func (l *Log) Stores() natsconn.PolicyStores { return l.stores }

// Publish validates c (a replaced document must compile) and publishes it;
// it returns the event's stream sequence: the revision it makes. A change
// that is valid on its own may still be rejected by the replicas against
// the policy in force (a list the policy lacks): check with State first.
func (l *Log) Publish(ctx context.Context, c *decider.Change) (uint64, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	return l.publish(ctx, c)
}

func (l *Log) publish(ctx context.Context, c *decider.Change, opts ...jetstream.PublishOpt) (uint64, error) {
	data, err := c.Marshal()
	if err != nil {
		return 0, err
	}
	// A retry of the same publish (lost ack) is dropped by the stream's
	// duplicate window.
	opts = append(opts, jetstream.WithMsgID(uuid.NewString()), jetstream.WithExpectStream(decider.PolicyStream))
	msg := nats.NewMsg(decider.PolicySubject(l.app, c.Kind))
	msg.Data = data
	if l.signer != nil {
		key, sig := l.signer.SignEvent(l.app, msg.Subject, data)
		msg.Header.Set(decider.HeaderPolicyKey, key)
		msg.Header.Set(decider.HeaderPolicySignature, sig)
	}
	// Every attempt carries the same Nats-Msg-Id: an attempt whose ack was
	// lost and the next one store the event once.
	var ack *jetstream.PubAck
	err = Retry(ctx, func(ctx context.Context) error {
		ack, err = l.js.PublishMsg(ctx, msg, opts...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("publish %s event: %w", c.Kind, err)
	}
	return ack.Sequence, nil
}

// Seed publishes doc as the app's first event unless its log already has
// one (checked by the server, so two replicas starting together seed once).
// It returns the event's sequence and whether it was published.
func (l *Log) Seed(ctx context.Context, doc *decider.Document, author string) (uint64, bool, error) {
	c := &decider.Change{Kind: decider.ChangeReplaced, Document: doc, Author: author, Time: time.Now().UTC(), Reason: "seed: --policy file on an empty log"}
	if err := c.Validate(); err != nil {
		return 0, false, err
	}
	seq, err := l.publish(ctx, c, jetstream.WithExpectLastSequenceForSubject(0, decider.PolicyAppSubjects(l.app)))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return seq, true, nil
}

// Head returns the sequence of the app's newest event, 0 when it has none.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	msg, err := l.lastMsg(ctx, decider.PolicyAppSubjects(l.app))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("policy log head: %w", err)
	}
	return msg.Sequence, nil
}

// lastMsg returns the newest message on subject (any replica answers).
func (l *Log) lastMsg(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	var msg *jetstream.RawStreamMsg
	err := Retry(ctx, func(ctx context.Context) error {
		var err error
		msg, err = l.stores.Stream.GetLastMsgForSubject(ctx, subject)
		return err
	})
	return msg, err
}

// Record is one event of the log as read back.
type Record struct {
	Seq         uint64
	Subject     string
	App         string    // from the subject
	Kind        string    // from the subject
	Stored      time.Time // when the stream stored it
	Data        []byte
	KeyID       string // decider.HeaderPolicyKey ("" when unsigned)
	Signature   string // decider.HeaderPolicySignature
	Republished string // the Nats-Stream header: the stream that republished it here ("" normally)
}

// recordOf returns the record of msg.
func recordOf(subject string, data []byte, h nats.Header, seq uint64, stored time.Time) Record {
	app, kind, _ := decider.ParsePolicySubject(subject)
	return Record{Seq: seq, Subject: subject, App: app, Kind: kind, Stored: stored, Data: data,
		KeyID: h.Get(decider.HeaderPolicyKey), Signature: h.Get(decider.HeaderPolicySignature),
		Republished: h.Get(jetstream.StreamHeader)}
}

// Reader reads the app's events from sequence from.
func (l *Log) Reader(ctx context.Context, from uint64) (*Reader, error) {
	return NewReader(ctx, l.js, l.stores.Stream, decider.PolicyAppSubjects(l.app), from)
}

// Read calls fn for every event of the app from sequence from to sequence
// to (0: the head when Read starts), in order.
func (l *Log) Read(ctx context.Context, from, to uint64, fn func(Record) error) error {
	if to == 0 {
		head, err := l.Head(ctx)
		if err != nil {
			return err
		}
		to = head
	}
	if to < max(from, 1) {
		return nil
	}
	rd, err := l.Reader(ctx, from)
	if err != nil {
		return err
	}
	defer rd.Stop()
	for {
		rec, pending, err := rd.Next(ctx)
		if err != nil {
			return err
		}
		if rec.Seq > to {
			return nil
		}
		if err := fn(rec); err != nil {
			return err
		}
		if rec.Seq == to || pending == 0 {
			return nil
		}
	}
}

// State returns the fold of the app's log up to sequence upTo (0: the
// head): from the compacted snapshot when it does not go past upTo, then
// the events after it. reject, when not nil, is called for each event the
// fold rejects.
func (l *Log) State(ctx context.Context, upTo uint64, reject func(Record, error)) (*decider.Fold, error) {
	if upTo == 0 {
		head, err := l.Head(ctx)
		if err != nil {
			return nil, err
		}
		upTo = head
	}
	fold := decider.NewFold(nil, 0)
	snap, pos, err := LoadSnapshot(ctx, l.stores, l.app, 0, l.trust)
	if errors.Is(err, ErrSnapshotRefused) {
		snap, err = nil, nil // fold the whole log instead
	}
	if err != nil {
		return nil, err
	}
	if snap != nil && pos <= upTo {
		fold = decider.NewFold(snap, pos)
	}
	err = l.Read(ctx, fold.Position()+1, upTo, func(r Record) error {
		if _, err := ApplyRecord(fold, l.trust, r); err != nil && reject != nil {
			reject(r, err)
		}
		return nil
	})
	return fold, err
}

// Document returns the document in force (nil before any): the newest
// replaced event when it is valid, else the fold of the log.
func (l *Log) Document(ctx context.Context) (*decider.Document, error) {
	msg, err := l.lastMsg(ctx, decider.PolicySubject(l.app, decider.ChangeReplaced))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("newest policy document: %w", err)
	}
	rec := recordOf(msg.Subject, msg.Data, msg.Header, msg.Sequence, msg.Time)
	if _, err := rec.Verify(l.trust); err == nil {
		if c, err := decider.ParseChange(msg.Data); err == nil && c.Kind == decider.ChangeReplaced && c.Validate() == nil {
			return c.Document, nil
		}
	}
	fold, err := l.State(ctx, 0, nil)
	if err != nil {
		return nil, err
	}
	return fold.Document(), nil
}
