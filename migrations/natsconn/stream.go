package natsconn

import (
	"cmp"
	"context"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/nats-io/nats.go/jetstream"
)

// EventStreamConfig sizes the INVITEGATE_EVENTS stream.
type EventStreamConfig struct {
	// Replicas is the stream's replica count, 1 to 5. Default 1; production
	// clusters should use 3.
	Replicas int
	// MaxAge is how long events stay in the stream. Default 7 days. The
	// projector must catch up within it.
	MaxAge time.Duration
	// Duplicates is the dedup window on Nats-Msg-Id (the batch id). Default
	// 5 minutes, at most MaxAge.
	//
	// It must cover the outbox's retry horizon: the time between a batch's
	// first store (whose PubAck may have been lost) and its last re-publish
	// with the same id. For a lost ack that is AckTimeout plus one backoff
	// (seconds); for an outage it is the outage's length, and for a batch
	// left in the spool by Stop it is the time until the next start replays
	// it. Re-publishes inside the window are dropped by the server (PubAck
	// Duplicate); beyond it the stream may hold a second copy, which the
	// projector skips on the event id primary key. The server keeps one entry
	// per batch id for the window, so its memory grows with batches/s times
	// Duplicates (about 100 bytes each).
	Duplicates time.Duration
	// MaxBytes caps the stream's size; 0 means unlimited. When the cap is
	// reached new publishes are refused (DiscardNew) rather than old,
	// unprojected events silently discarded: the outbox keeps and retries
	// refused batches, and spills them to its spool.
	MaxBytes int64
	// Provision says whether EnsureEventStream may create the stream when
	// it is missing and update it when it differs (ProvisionMissing, the
	// default), must only look it up (ProvisionNever), or creates or
	// updates it unconditionally (ProvisionUpdate, `migrate up`).
	Provision Provisioning
}

// Defaults of EventStreamConfig.
const (
	DefaultReplicas   = 1
	DefaultMaxAge     = 7 * 24 * time.Hour
	DefaultDuplicates = 5 * time.Minute
)

// WithDefaults returns c with every zero field set to its default.
func (c EventStreamConfig) WithDefaults() EventStreamConfig {
	c.Replicas = cmp.Or(c.Replicas, DefaultReplicas)
	c.MaxAge = cmp.Or(c.MaxAge, DefaultMaxAge)
	c.Duplicates = cmp.Or(c.Duplicates, DefaultDuplicates)
	return c
}

// Validate checks c after defaults.
func (c EventStreamConfig) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return invalid("stream replicas %d not in 1..5", c.Replicas)
	case c.MaxAge < 0:
		return invalid("stream max age %s is negative", c.MaxAge)
	case c.Duplicates < 0:
		return invalid("stream duplicate window %s is negative", c.Duplicates)
	case c.Duplicates > c.MaxAge:
		return invalid("stream duplicate window %s exceeds max age %s", c.Duplicates, c.MaxAge)
	case c.MaxBytes < 0:
		return invalid("stream max bytes %d is negative", c.MaxBytes)
	}
	return c.Provision.validate()
}

// StreamConfig returns the JetStream configuration of the event stream.
func (c EventStreamConfig) StreamConfig() jetstream.StreamConfig {
	c = c.WithDefaults()
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        decider.EventStream,
		Description: "invitegate decision and membership events (NDJSON batches)",
		Subjects:    []string{decider.EventSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		Replicas:    c.Replicas,
		MaxAge:      c.MaxAge,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		Duplicates:  c.Duplicates,
	}
}

// EnsureEventStream returns the event stream. It looks it up first and
// sends nothing more when it already has cfg; when it is missing it creates
// it and when it differs it updates it, unless cfg.Provision is
// ProvisionNever (then a missing one is an error wrapping
// ErrNotProvisioned, one that differs is used as it is). With
// ProvisionUpdate it creates or updates it to cfg; calling it again with
// the same cfg changes nothing.
func EnsureEventStream(ctx context.Context, js jetstream.JetStream, cfg EventStreamConfig) (jetstream.Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return ensureStream(ctx, js, cfg.StreamConfig(), cfg.Provision)
}
