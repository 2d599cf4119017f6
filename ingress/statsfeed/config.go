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
	// Pending bounds the stats messages waiting to be applied; beyond it
	// NATS drops messages for this subscriber (counted as
	// invitegate_stats_messages_total{result="dropped"}); the next refresh
	// repairs them. Default 4096.
	Pending int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Subject = cmp.Or(c.Subject, decider.StatsSubject)
	c.TTL = cmp.Or(c.TTL, DefaultTTL)
	c.SweepInterval = cmp.Or(c.SweepInterval, DefaultSweepInterval)
	c.Pending = cmp.Or(c.Pending, DefaultPending)
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
	}
	return nil
}
