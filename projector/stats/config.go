package stats

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// Defaults of Config.
const (
	DefaultFlushInterval   = 200 * time.Millisecond
	DefaultRefreshInterval = time.Minute
	DefaultRebuild         = 24 * time.Hour
	DefaultMaxMessageBytes = 256 << 10
	DefaultRetryWait       = time.Second
	DefaultMaxKeys         = 2_000_000
	DefaultGroupIdle       = 24 * time.Hour
	DefaultTopKeys         = 1000
	DefaultTopInterval     = 10 * time.Second
	DefaultDedupWindow     = time.Hour
	DefaultDedupMaxIDs     = 1_000_000
)

// ErrInvalidConfig is wrapped by every error of Config validation.
var ErrInvalidConfig = errors.New("invalid stats aggregator config")

// Config configures an Aggregator. The zero Config is valid.
type Config struct {
	// Stream is the event stream read. Default decider.EventStream.
	Stream string
	// Subject is the core NATS subject updates are published on. Default
	// decider.StatsSubject.
	Subject string
	// FlushInterval is how often changed counters are published (coalesced:
	// one value per changed key and statistic per flush). Default 200ms.
	FlushInterval time.Duration
	// RefreshInterval is how often every non-zero counter is republished, so
	// a replica that started or missed messages converges. It must stay
	// under the ingress's statsfeed TTL. Default 1m.
	RefreshInterval time.Duration
	// Rebuild is how much history is read from the stream at start: the
	// longest window, 24h. Default 24h.
	Rebuild time.Duration
	// MaxMessageBytes bounds one published message. Default 256 KiB.
	MaxMessageBytes int
	// RetryWait is the pause before reading the stream again after an
	// error. Default 1s.
	RetryWait time.Duration
	// MaxKeys bounds the keys held in memory (operators, members and groups
	// together). Past it, each flush forgets the least recently active keys
	// down to 90% of it (invitegate_stats_evicted_keys_total): a forgotten
	// key's windows restart from 0, a stored group size is loaded again.
	// Default 2,000,000 (about 250 MB of heap).
	MaxKeys int
	// GroupIdle is how long a group with members, its size stored, stays in
	// memory (and so in every replica) after its last event. Default 24h.
	GroupIdle time.Duration
	// TopKeys is how many keys of each statistic and app the TopStore
	// (invitegate.stats_counters) holds. Default 1,000.
	TopKeys int
	// TopInterval is how often the TopStore is rewritten. Default 10s.
	TopInterval time.Duration
	// DedupWindow is how far back in event time (ReceivedAt) event ids are
	// remembered, so that a copy of an event stored again past the stream's
	// duplicate window is counted once (dedup.go). Default 1h: twelve
	// default duplicate windows, longer than any restart loop or outage
	// after which a lost PubAck's batch is re-published.
	DedupWindow time.Duration
	// DedupMaxIDs bounds the ids remembered (about 35 bytes each); past
	// it the oldest minutes are forgotten first. Default 1,000,000 (about
	// 35 MB): the whole hour up to about 280 events/s, the last 8
	// minutes at 2,000/s.
	DedupMaxIDs int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Stream = cmp.Or(c.Stream, decider.EventStream)
	c.Subject = cmp.Or(c.Subject, decider.StatsSubject)
	c.FlushInterval = cmp.Or(c.FlushInterval, DefaultFlushInterval)
	c.RefreshInterval = cmp.Or(c.RefreshInterval, DefaultRefreshInterval)
	c.Rebuild = cmp.Or(c.Rebuild, DefaultRebuild)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, DefaultMaxMessageBytes)
	c.RetryWait = cmp.Or(c.RetryWait, DefaultRetryWait)
	c.MaxKeys = cmp.Or(c.MaxKeys, DefaultMaxKeys)
	c.GroupIdle = cmp.Or(c.GroupIdle, DefaultGroupIdle)
	c.TopKeys = cmp.Or(c.TopKeys, DefaultTopKeys)
	c.TopInterval = cmp.Or(c.TopInterval, DefaultTopInterval)
	c.DedupWindow = cmp.Or(c.DedupWindow, DefaultDedupWindow)
	c.DedupMaxIDs = cmp.Or(c.DedupMaxIDs, DefaultDedupMaxIDs)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.FlushInterval < 0:
		return fmt.Errorf("%w: FlushInterval %v is negative", ErrInvalidConfig, c.FlushInterval)
	case c.RefreshInterval < c.FlushInterval:
		return fmt.Errorf("%w: RefreshInterval %v is shorter than FlushInterval %v", ErrInvalidConfig, c.RefreshInterval, c.FlushInterval)
	case c.Rebuild < 24*time.Hour:
		return fmt.Errorf("%w: Rebuild %v is shorter than the 24h window", ErrInvalidConfig, c.Rebuild)
	case c.MaxMessageBytes < 1024:
		return fmt.Errorf("%w: MaxMessageBytes %d is under 1024", ErrInvalidConfig, c.MaxMessageBytes)
	case c.RetryWait < 0:
		return fmt.Errorf("%w: RetryWait %v is negative", ErrInvalidConfig, c.RetryWait)
	case c.MaxKeys < 1000:
		return fmt.Errorf("%w: MaxKeys %d is under 1000", ErrInvalidConfig, c.MaxKeys)
	case c.TopKeys < 1:
		return fmt.Errorf("%w: TopKeys %d is under 1", ErrInvalidConfig, c.TopKeys)
	case c.TopInterval < 0:
		return fmt.Errorf("%w: TopInterval %v is negative", ErrInvalidConfig, c.TopInterval)
	case c.DedupWindow < time.Minute:
		return fmt.Errorf("%w: DedupWindow %v is shorter than a minute", ErrInvalidConfig, c.DedupWindow)
	case c.DedupMaxIDs < 1000:
		return fmt.Errorf("%w: DedupMaxIDs %d is under 1000", ErrInvalidConfig, c.DedupMaxIDs)
	case c.GroupIdle < time.Hour:
		return fmt.Errorf("%w: GroupIdle %v is shorter than the 1h window", ErrInvalidConfig, c.GroupIdle)
	}
	return nil
}
