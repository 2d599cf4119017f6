package policylog

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
)

// Defaults of Config.
const (
	DefaultCompactEvery    = 1000
	DefaultCompactInterval = 30 * time.Second
	DefaultBatchSize       = 500
	DefaultRetryWait       = time.Second
	DefaultRequestTimeout  = 30 * time.Second
	DefaultCheckInterval   = 10 * time.Second
)

// ErrInvalidConfig is wrapped by every error of Config validation.
var ErrInvalidConfig = errors.New("invalid policylog config")

// Config configures the Compactor and the RevisionWriter. The zero value is
// usable.
type Config struct {
	// CompactEvery writes the compacted snapshots after this many events.
	// Default 1000.
	CompactEvery int
	// CompactInterval writes them this long after the first event not yet
	// compacted, however few. Default 30s.
	CompactInterval time.Duration
	// BatchSize is the most policy_revisions rows written in one
	// transaction. Default 500.
	BatchSize int
	// RetryWait is the pause before starting over after NATS or
	// PostgreSQL failed. Default 1s.
	RetryWait time.Duration
	// RequestTimeout bounds each NATS request and each transaction
	// (a snapshot upload of a 1,000,000-entry list included). Default 30s.
	RequestTimeout time.Duration
	// CheckInterval is how often the compactor checks the compacted
	// snapshots that changed since it last looked, as a replica would: one
	// refused (written by someone else) is deleted and written anew.
	// Default 10s; every snapshot is also checked at start.
	CheckInterval time.Duration
	// Stores configures the policy stream and buckets (ensured at start).
	Stores natsconn.PolicyStreamConfig
	// Trust holds the public keys allowed to change the policy
	// (--policy-trust): with keys, the compactor folds and the revision
	// writer marks applied only the events they sign, as the replicas do.
	Trust *decider.Trust
	// SnapshotKey signs the compacted snapshots (--policy-snapshot-key);
	// replicas with trust load only snapshots signed by a key their trust
	// marks "snapshots". Nil: snapshots are written unsigned.
	SnapshotKey *decider.SigningKey
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.CompactEvery = cmp.Or(c.CompactEvery, DefaultCompactEvery)
	c.CompactInterval = cmp.Or(c.CompactInterval, DefaultCompactInterval)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	c.RetryWait = cmp.Or(c.RetryWait, DefaultRetryWait)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, DefaultRequestTimeout)
	c.CheckInterval = cmp.Or(c.CheckInterval, DefaultCheckInterval)
	c.Stores = c.Stores.WithDefaults()
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
	check(c.CompactEvery < 1, "compact every %d < 1", c.CompactEvery)
	check(c.CompactInterval <= 0, "compact interval %s is not positive", c.CompactInterval)
	check(c.BatchSize < 1, "batch size %d < 1", c.BatchSize)
	check(c.RetryWait <= 0, "retry wait %s is not positive", c.RetryWait)
	check(c.RequestTimeout <= 0, "request timeout %s is not positive", c.RequestTimeout)
	check(c.CheckInterval <= 0, "check interval %s is not positive", c.CheckInterval)
	if c.Trust.Enabled() && c.SnapshotKey != nil && !trustsSnapshotKey(c.Trust, c.SnapshotKey.ID()) {
		errs = append(errs, fmt.Errorf("%w: snapshot key %s is not in the trust as a snapshots key (add a line `snapshots ssh-ed25519 ...`)", ErrInvalidConfig, c.SnapshotKey.ID()))
	}
	if err := c.Stores.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	return errors.Join(errs...)
}

func trustsSnapshotKey(t *decider.Trust, id string) bool {
	for _, k := range t.Keys() {
		if k.ID == id && k.Snapshots {
			return true
		}
	}
	return false
}
