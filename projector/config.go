package projector

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// Defaults of Config.
const (
	DefaultDatabaseURL     = "postgres://postgres@127.0.0.1:5432/invitegate?sslmode=disable"
	DefaultConsumer        = "projector"
	DefaultBatchSize       = 2000
	DefaultBatchWait       = 100 * time.Millisecond
	DefaultInFlight        = 2
	DefaultAckWait         = 30 * time.Second
	DefaultMaxDeliver      = 5
	DefaultRetryMin        = 100 * time.Millisecond
	DefaultRetryMax        = 5 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultPendingInterval = 5 * time.Second
	// DefaultPartitionsAhead is how many days of partitions are kept
	// created ahead of today.
	DefaultPartitionsAhead = 7
	// DefaultPartitionInterval is how often the partitions ahead and the
	// retention are seen to.
	DefaultPartitionInterval = time.Hour
	// MinRetention is the shortest Retention: partitions are days.
	MinRetention = 24 * time.Hour
)

// DefaultBackOff is the default Config.BackOff.
var DefaultBackOff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

// ErrInvalidConfig is wrapped by every error of Config validation.
var ErrInvalidConfig = errors.New("invalid projector config")

// Config configures a Worker and its database pool. The zero value is
// usable: every zero field takes its default.
type Config struct {
	// DatabaseURL is the PostgreSQL connection URL (pgx syntax). The
	// database is created if missing and the user may (see NewPool).
	// Default DefaultDatabaseURL.
	DatabaseURL string
	// PoolSize is the pool's maximum number of connections. Default
	// InFlight+2 (one per concurrent batch, one for dead letters and the
	// pending poll).
	PoolSize int32
	// NoMigrate skips the migrations the fx module runs at start.
	NoMigrate bool

	// Stream is the JetStream stream to read. Default decider.EventStream.
	Stream string
	// Consumer is the durable pull consumer's name; every Worker with the
	// same name shares the work. Default "projector".
	Consumer string
	// BatchSize is the most events one transaction writes. One NATS message
	// holds many events and is never split, so a batch may exceed it by
	// one message. Default 2000 (in bench-projector, 1000 cost 2 µs more
	// CPU an event, 4000 no less than 2000).
	BatchSize int
	// BatchWait is how long a batch waits to fill once its first message
	// arrived. Default 100ms.
	BatchWait time.Duration
	// InFlight is how many batches are written at once, each in its own
	// transaction. Default 2.
	InFlight int
	// MaxAckPending is the consumer's limit of delivered, unacknowledged
	// messages, shared by every Worker on the consumer. Default
	// BatchSize × (InFlight+1) × 2: room for the batches being written and
	// the next one, in one event per message at worst, for two Workers.
	MaxAckPending int
	// AckWait is how long the server waits for an ack before redelivering
	// (a crashed Worker's messages come back after it). A Worker sends
	// "in progress" for the messages it holds, so a slow or retried write
	// does not expire. Default 30s.
	AckWait time.Duration
	// MaxDeliver is how many deliveries a message that fails to store for a
	// data reason gets; at the last one it goes to dead_letters and is
	// terminated. The Worker enforces it itself and the server consumer's
	// MaxDeliver is unlimited, so that deliveries spent on crashes or
	// restarts never make the server drop a message silently. Default 5.
	MaxDeliver int
	// BackOff is the delay before the next delivery of a message that
	// failed for a data reason: BackOff[n-1] after the n-th delivery, the
	// last value repeating. Default 1s, 5s, 30s, 2m.
	BackOff []time.Duration
	// RetryMin and RetryMax bound the in-process retry delay (doubling)
	// after a transient database error (connection lost, deadlock, ...).
	// Such retries spend no delivery. Defaults 100ms and 5s.
	RetryMin, RetryMax time.Duration
	// WriteTimeout bounds one attempt to write a batch. Default 30s.
	WriteTimeout time.Duration
	// PendingInterval is how often the consumer's pending count is polled
	// for invitegate_projector_pending_messages. Default 5s.
	PendingInterval time.Duration

	// Retention is how long the rows of invite_events, invite_members and
	// membership_events are kept, by received_at: every PartitionInterval
	// the partitions (UTC days) whose whole range is older are dropped,
	// never a row at a time. The rollups are kept whatever it is. 0 (the
	// default) keeps everything; otherwise at least MinRetention.
	Retention time.Duration
	// PartitionsAhead is how many days after today have their partitions
	// created in advance. Default 7.
	PartitionsAhead int
	// PartitionInterval is how often the partitions ahead are created and
	// the retention applied (also once at Start). Default 1h.
	PartitionInterval time.Duration

	// Now is the clock for lag, dead-letter times, partitions and the
	// retention. Default time.Now.
	Now func() time.Time
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.DatabaseURL = cmp.Or(c.DatabaseURL, DefaultDatabaseURL)
	c.Stream = cmp.Or(c.Stream, decider.EventStream)
	c.Consumer = cmp.Or(c.Consumer, DefaultConsumer)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	c.BatchWait = cmp.Or(c.BatchWait, DefaultBatchWait)
	c.InFlight = cmp.Or(c.InFlight, DefaultInFlight)
	c.PoolSize = cmp.Or(c.PoolSize, int32(c.InFlight)+2)
	c.MaxAckPending = cmp.Or(c.MaxAckPending, c.BatchSize*(c.InFlight+1)*2)
	c.AckWait = cmp.Or(c.AckWait, DefaultAckWait)
	c.MaxDeliver = cmp.Or(c.MaxDeliver, DefaultMaxDeliver)
	if len(c.BackOff) == 0 {
		c.BackOff = DefaultBackOff
	}
	c.RetryMin = cmp.Or(c.RetryMin, DefaultRetryMin)
	c.RetryMax = cmp.Or(c.RetryMax, DefaultRetryMax)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.PendingInterval = cmp.Or(c.PendingInterval, DefaultPendingInterval)
	c.PartitionsAhead = cmp.Or(c.PartitionsAhead, DefaultPartitionsAhead)
	c.PartitionInterval = cmp.Or(c.PartitionInterval, DefaultPartitionInterval)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate checks c after withDefaults.
func (c Config) validate() error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
		}
	}
	check(c.BatchSize < 1, "batch size %d < 1", c.BatchSize)
	check(c.BatchWait < 0, "batch wait %s is negative", c.BatchWait)
	check(c.InFlight < 1, "in-flight batches %d < 1", c.InFlight)
	check(c.PoolSize < int32(c.InFlight)+1, "pool size %d < in-flight batches + 1 (%d)", c.PoolSize, c.InFlight+1)
	check(c.MaxAckPending < c.BatchSize, "max ack pending %d < batch size %d: a batch could never fill", c.MaxAckPending, c.BatchSize)
	check(c.AckWait < time.Second, "ack wait %s < 1s", c.AckWait)
	check(c.MaxDeliver < 1, "max deliver %d < 1", c.MaxDeliver)
	for i, d := range c.BackOff {
		check(d <= 0, "backoff[%d] %s is not positive", i, d)
	}
	check(c.RetryMin <= 0, "retry min %s is not positive", c.RetryMin)
	check(c.RetryMax < c.RetryMin, "retry max %s < retry min %s", c.RetryMax, c.RetryMin)
	check(c.WriteTimeout <= 0, "write timeout %s is not positive", c.WriteTimeout)
	check(c.PendingInterval <= 0, "pending interval %s is not positive", c.PendingInterval)
	check(c.Retention != 0 && c.Retention < MinRetention, "retention %s: want 0 (keep everything) or at least %s", c.Retention, MinRetention)
	check(c.PartitionsAhead < 1 || c.PartitionsAhead > 365, "partitions ahead %d: want 1 to 365 days", c.PartitionsAhead)
	check(c.PartitionInterval < time.Minute, "partition interval %s < 1m", c.PartitionInterval)
	return errors.Join(errs...)
}

// backOff returns the delay before the delivery after the n-th.
func (c Config) backOff(delivered uint64) time.Duration {
	i := int(min(delivered, uint64(len(c.BackOff)))) - 1
	return c.BackOff[max(i, 0)]
}
