package statsfeed

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// Defaults of Config.
const (
	DefaultTTL           = 3 * time.Minute
	DefaultSweepInterval = 30 * time.Second
	DefaultPending       = 4096
	// DefaultMaxMessageBytes is the largest stats message applied: four
	// times what the aggregator publishes (256 KiB).
	DefaultMaxMessageBytes = 1 << 20
	// DefaultPendingBytes bounds the bytes of the messages waiting.
	DefaultPendingBytes = 16 << 20
	// DefaultMaxKeys bounds the table, like the aggregator's --stats-max-keys
	// (about 50 bytes a key).
	DefaultMaxKeys = 2_000_000
)

// ErrInvalidConfig is wrapped by every error of Config validation.
var ErrInvalidConfig = errors.New("invalid statsfeed config")

// Config configures a Follower. The zero Config is valid.
type Config struct {
	// Subject is the core NATS subject of stats updates. Default
	// decider.StatsSubject.
	Subject string
	// TTL is how long a key lives without an update. The aggregator
	// republishes every live key at least every refresh interval (1 min by
	// default), so TTL must exceed it. Default 3m.
	TTL time.Duration
	// SweepInterval is how often idle keys are removed. Default 30s.
	SweepInterval time.Duration
	// App is this ingress's SdkAppID: updates for any other app are
	// dropped (counted as invitegate_stats_updates_dropped_total{reason=
	// "other_app"}); "" keeps every app (tools, tests).
	App string
	// Pending bounds the stats messages waiting to be applied, and
	// PendingBytes their bytes; beyond either the NATS client drops
	// messages for this subscriber (counted as
	// invitegate_stats_messages_total{result="dropped"}); the next refresh
	// repairs them. Defaults 4096 and 16 MiB.
	Pending      int
	PendingBytes int
	// MaxMessageBytes bounds one message; a larger one is refused whole
	// (result "oversized"). Default 1 MiB.
	MaxMessageBytes int
	// MaxKeys bounds the keys of the table; past it an update for a new key
	// is dropped (reason "max_keys") while known keys are still updated.
	// Default 2,000,000.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Subject = cmp.Or(c.Subject, decider.StatsSubject)
	c.TTL = cmp.Or(c.TTL, DefaultTTL)
	c.SweepInterval = cmp.Or(c.SweepInterval, DefaultSweepInterval)
	c.Pending = cmp.Or(c.Pending, DefaultPending)
	c.PendingBytes = cmp.Or(c.PendingBytes, DefaultPendingBytes)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, DefaultMaxMessageBytes)
	c.MaxKeys = cmp.Or(c.MaxKeys, DefaultMaxKeys)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.TTL < 0:
		return fmt.Errorf("%w: TTL %v is negative", ErrInvalidConfig, c.TTL)
	case c.SweepInterval < 0:
		return fmt.Errorf("%w: SweepInterval %v is negative", ErrInvalidConfig, c.SweepInterval)
	case c.SweepInterval > c.TTL:
		return fmt.Errorf("%w: SweepInterval %v exceeds TTL %v", ErrInvalidConfig, c.SweepInterval, c.TTL)
	case c.Pending < 0:
		return fmt.Errorf("%w: Pending %d is negative", ErrInvalidConfig, c.Pending)
	case c.PendingBytes < 1024:
		return fmt.Errorf("%w: PendingBytes %d is under 1024", ErrInvalidConfig, c.PendingBytes)
	case c.MaxMessageBytes < 1024:
		return fmt.Errorf("%w: MaxMessageBytes %d is under 1024", ErrInvalidConfig, c.MaxMessageBytes)
	case c.MaxKeys < 1:
		return fmt.Errorf("%w: MaxKeys %d is not positive", ErrInvalidConfig, c.MaxKeys)
	}
	return nil
}
