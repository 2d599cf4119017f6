package outbox

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/invitegate/invitegate/migrations/natsconn"
)

// Config sizes the outbox. Zero fields take the defaults below.
type Config struct {
	// DataDir holds the spool, under DataDir/spool. Default "./.data".
	DataDir string
	// MaxBatchEvents seals a batch at this many events. Default 1024.
	MaxBatchEvents int
	// MaxBatchBytes seals a batch before its body would exceed this size.
	// Default 512 KiB; keep it under the server's max_payload (1 MiB by
	// default): a batch the server refuses as too large is split in two.
	MaxBatchBytes int
	// BatchDelay seals a batch this long after its first event. Default
	// 20 ms. It sets how many messages a busy subject costs the server: one
	// per BatchDelay, each an fsync with sync_interval: always (0.75–0.85
	// ms of the server's CPU here, against about 2 µs per event). It is also
	// what a killed process loses at most besides the batches in flight:
	// the open batch lives only in memory.
	BatchDelay time.Duration
	// MaxInFlight is how many batches await their PubAck at once. Default 32.
	MaxInFlight int
	// AckTimeout is how long one publish waits for its PubAck before the
	// batch is re-published with the same id. Default 5 s.
	AckTimeout time.Duration
	// RetryMinBackoff and RetryMaxBackoff bound the pause between attempts
	// of one batch (doubling, with jitter). Defaults 50 ms and 5 s. A
	// reconnect cuts the pause short.
	RetryMinBackoff time.Duration
	RetryMaxBackoff time.Duration
	// MaxMemoryBytes bounds the unacknowledged batches held in memory;
	// beyond it sealed batches go to the disk spool. Default 64 MiB. Batches
	// queued for the spool writer take at most max(MaxMemoryBytes, 8 MiB)
	// more; past that the writer is stuck and they are dropped and counted
	// (reason "spool_backlog").
	MaxMemoryBytes int64
	// SpoolMaxBytes bounds the spool on disk; a batch that does not fit is
	// dropped and counted in invitegate_events_dropped_total{reason="spool_full"}.
	// Default 1 GiB.
	SpoolMaxBytes int64
	// SpoolSegmentBytes is the size at which a spool segment file is closed
	// and a new one started. Default 4 MiB.
	SpoolSegmentBytes int64
	// SpoolSyncInterval is how often the open spool segment is fsynced while
	// it has unsynced writes (segments are also fsynced when closed and at
	// Stop). Default 1 s.
	SpoolSyncInterval time.Duration
	// FlushTimeout bounds how long Stop waits for the PubAcks of what is in
	// memory before writing the rest to the spool. Default 10 s.
	FlushTimeout time.Duration
	// Durability says when Enqueue returns. DurabilityAsync (the default)
	// returns at once: the event is in memory, and a killed process loses
	// the open batch and the batches in flight. DurabilitySync returns once
	// the event is durable: acknowledged by JetStream, or fsynced to the
	// spool when no PubAck came within SpoolAfter; at most DurabilityTimeout.
	Durability Durability
	// DurabilityTimeout bounds how long a sync Enqueue waits (default
	// 500 ms, at most 1.5 s: IM waits 2 s for the whole answer). Past it
	// Enqueue returns and the event is counted in
	// invitegate_event_durability_total{result="durability_timeout"}; it
	// stays in the outbox and is still published.
	DurabilityTimeout time.Duration
	// SpoolAfter is how long a sync batch waits for its PubAck before a copy
	// is written and fsynced to the spool so that its callers may be
	// answered (the publish goes on; the copy is marked acknowledged when
	// the PubAck comes). Default 100 ms; under DurabilityTimeout.
	SpoolAfter time.Duration
	// Stream is the event stream ensured at Start. Its Duplicates window
	// must cover the retry horizon (see natsconn.EventStreamConfig).
	Stream natsconn.EventStreamConfig
}

// Defaults.
const (
	DefaultDataDir           = "./.data"
	DefaultMaxBatchEvents    = 1024
	DefaultMaxBatchBytes     = 512 << 10
	DefaultBatchDelay        = 20 * time.Millisecond
	DefaultMaxInFlight       = 32
	DefaultAckTimeout        = 5 * time.Second
	DefaultRetryMinBackoff   = 50 * time.Millisecond
	DefaultRetryMaxBackoff   = 5 * time.Second
	DefaultMaxMemoryBytes    = 64 << 20
	DefaultSpoolMaxBytes     = 1 << 30
	DefaultSpoolSegmentBytes = 4 << 20
	DefaultSpoolSyncInterval = time.Second
	DefaultFlushTimeout      = 10 * time.Second
	DefaultDurability        = DurabilityAsync
	DefaultDurabilityTimeout = 500 * time.Millisecond
	DefaultSpoolAfter        = 100 * time.Millisecond

	maxDurabilityTimeout = 1500 * time.Millisecond // IM's budget is 2 s for the whole answer

	maxBatchBytesLimit = 64 << 20 // NATS's own ceiling on max_payload
)

// Durability is when Enqueue returns: see Config.Durability.
type Durability string

// Durabilities.
const (
	DurabilityAsync Durability = "async" // at once; the event is in memory
	DurabilitySync  Durability = "sync"  // once acknowledged by JetStream or fsynced to the spool
)

// ErrInvalidConfig is wrapped by every Config validation error.
var ErrInvalidConfig = errors.New("invalid outbox config")

func (c Config) withDefaults() Config {
	c.DataDir = cmp.Or(c.DataDir, DefaultDataDir)
	c.MaxBatchEvents = cmp.Or(c.MaxBatchEvents, DefaultMaxBatchEvents)
	c.MaxBatchBytes = cmp.Or(c.MaxBatchBytes, DefaultMaxBatchBytes)
	c.BatchDelay = cmp.Or(c.BatchDelay, DefaultBatchDelay)
	c.MaxInFlight = cmp.Or(c.MaxInFlight, DefaultMaxInFlight)
	c.AckTimeout = cmp.Or(c.AckTimeout, DefaultAckTimeout)
	c.RetryMinBackoff = cmp.Or(c.RetryMinBackoff, DefaultRetryMinBackoff)
	c.RetryMaxBackoff = cmp.Or(c.RetryMaxBackoff, DefaultRetryMaxBackoff)
	c.MaxMemoryBytes = cmp.Or(c.MaxMemoryBytes, DefaultMaxMemoryBytes)
	c.SpoolMaxBytes = cmp.Or(c.SpoolMaxBytes, DefaultSpoolMaxBytes)
	c.SpoolSegmentBytes = cmp.Or(c.SpoolSegmentBytes, DefaultSpoolSegmentBytes)
	c.SpoolSyncInterval = cmp.Or(c.SpoolSyncInterval, DefaultSpoolSyncInterval)
	c.FlushTimeout = cmp.Or(c.FlushTimeout, DefaultFlushTimeout)
	c.Durability = cmp.Or(c.Durability, DefaultDurability)
	c.DurabilityTimeout = cmp.Or(c.DurabilityTimeout, DefaultDurabilityTimeout)
	c.SpoolAfter = cmp.Or(c.SpoolAfter, DefaultSpoolAfter)
	c.Stream = c.Stream.WithDefaults()
	return c
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// RetryHorizon is the longest a lost PubAck goes unnoticed before the batch
// is re-published with the same id while NATS stays reachable: one ack
// timeout plus the longest backoff. The stream's duplicate window must be at
// least twice that; longer outages are covered as long as they are shorter
// than the window, and beyond it by the projector's primary key.
func (c Config) RetryHorizon() time.Duration {
	c = c.withDefaults()
	return c.AckTimeout + c.RetryMaxBackoff
}

// validate checks c after defaults.
func (c Config) validate() error {
	switch {
	case c.MaxBatchEvents < 1:
		return invalid("max batch events %d < 1", c.MaxBatchEvents)
	case c.MaxBatchBytes < 1 || c.MaxBatchBytes > maxBatchBytesLimit:
		return invalid("max batch bytes %d not in 1..%d", c.MaxBatchBytes, maxBatchBytesLimit)
	case c.BatchDelay < 0:
		return invalid("batch delay %s is negative", c.BatchDelay)
	case c.MaxInFlight < 1:
		return invalid("max in flight %d < 1", c.MaxInFlight)
	case c.AckTimeout < 0:
		return invalid("ack timeout %s is negative", c.AckTimeout)
	case c.RetryMinBackoff < 0 || c.RetryMaxBackoff < c.RetryMinBackoff:
		return invalid("retry backoff %s..%s is not a range", c.RetryMinBackoff, c.RetryMaxBackoff)
	case c.MaxMemoryBytes < int64(c.MaxBatchBytes):
		return invalid("max memory bytes %d < max batch bytes %d", c.MaxMemoryBytes, c.MaxBatchBytes)
	case c.SpoolSegmentBytes < 1:
		return invalid("spool segment bytes %d < 1", c.SpoolSegmentBytes)
	case c.SpoolMaxBytes < 0:
		return invalid("spool max bytes %d is negative", c.SpoolMaxBytes)
	case c.SpoolSyncInterval < 0:
		return invalid("spool sync interval %s is negative", c.SpoolSyncInterval)
	case c.FlushTimeout < 0:
		return invalid("flush timeout %s is negative", c.FlushTimeout)
	case c.Durability != DurabilityAsync && c.Durability != DurabilitySync:
		return invalid("durability %q is neither %q nor %q", c.Durability, DurabilityAsync, DurabilitySync)
	case c.DurabilityTimeout < 0 || c.DurabilityTimeout > maxDurabilityTimeout:
		return invalid("durability timeout %s not in 0..%s", c.DurabilityTimeout, maxDurabilityTimeout)
	case c.SpoolAfter < 0 || c.SpoolAfter >= c.DurabilityTimeout:
		return invalid("spool after %s not in 0..durability timeout %s", c.SpoolAfter, c.DurabilityTimeout)
	}
	if err := c.Stream.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if min := 2 * c.RetryHorizon(); c.Stream.Duplicates < min {
		return invalid("stream duplicate window %s shorter than twice the retry horizon (ack timeout %s + max backoff %s)",
			c.Stream.Duplicates, c.AckTimeout, c.RetryMaxBackoff)
	}
	return nil
}

func (c Config) spoolDir() string { return filepath.Join(c.DataDir, "spool") }
