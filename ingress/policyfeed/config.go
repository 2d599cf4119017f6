package policyfeed

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// Defaults of Config.
const (
	DefaultDataDir        = "./.data"
	DefaultStatusInterval = 5 * time.Second
	DefaultRetryWait      = time.Second
	DefaultRequestTimeout = 5 * time.Second
	DefaultSaveInterval   = time.Second
	DefaultFlushEvery     = 10000
)

// ErrInvalidConfig is wrapped by every error of Config validation.
var ErrInvalidConfig = errors.New("invalid policyfeed config")

// Config configures a Follower. Only App is required.
type Config struct {
	// App is the SdkAppid whose policy log is followed
	// (invitegate.policy.<app>.>).
	App string
	// DataDir holds the last good snapshot, DataDir/policy/<app>.json,
	// served at start when NATS is unreachable. Default "./.data".
	DataDir string
	// ReplicaID names this replica in the status bucket. Default
	// <hostname>-<pid>. Letters, digits, '-' and '_' only.
	ReplicaID string
	// Seed is the document of `--policy FILE`: published as the first event
	// when the app's log is empty, ignored (with a log line) otherwise, and
	// served meanwhile when NATS is unreachable and no snapshot is on disk.
	Seed *decider.Document
	// SeedServeOnly never publishes Seed (the replica's NATS user may not
	// write the log, as with the shipped permissions): while the app's log
	// is empty the replica serves Seed at revision 0, until `invitegate
	// policy apply` gives the log its first event.
	SeedServeOnly bool
	// SeedSource names the seed in logs and its event's author (the file).
	SeedSource string
	// Stores configures the policy stream and buckets (ensured at start).
	Stores natsconn.PolicyStreamConfig
	// StatusInterval is how often the replica refreshes its status entry
	// (it also reports each new revision at once). Default 5s; it must be
	// well under Stores.StatusTTL.
	StatusInterval time.Duration
	// RetryWait is the pause before following again after NATS failed.
	// Default 1s.
	RetryWait time.Duration
	// RequestTimeout bounds each JetStream request of the set-up (stream
	// info, snapshot download excepted). Default 5s.
	RequestTimeout time.Duration
	// SaveInterval is the least time between two writes of the snapshot to
	// disk (at least four times the last write's duration): a burst of
	// events is written once. Default 1s.
	SaveInterval time.Duration
	// FlushEvery bounds how many events a replay applies before it makes a
	// snapshot; live, a snapshot is made whenever nothing more is pending.
	// Default 10000.
	FlushEvery int
	// Trust holds the public keys allowed to change the policy
	// (--policy-trust). When it has keys, an event without a valid
	// signature of one of them is never applied, snapshots on disk are used
	// only when written under the same trust, and a compacted snapshot only
	// when signed by a key trusted for snapshots. Default: none (every
	// event that validates applies).
	Trust *decider.Trust
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

var replicaIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (c Config) withDefaults() Config {
	c.DataDir = cmp.Or(c.DataDir, DefaultDataDir)
	if c.ReplicaID == "" {
		host, _ := os.Hostname()
		c.ReplicaID = fmt.Sprintf("%s-%d", policystore.SanitizeID(host), os.Getpid())
	}
	c.Stores = c.Stores.WithDefaults()
	c.StatusInterval = cmp.Or(c.StatusInterval, DefaultStatusInterval)
	c.RetryWait = cmp.Or(c.RetryWait, DefaultRetryWait)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, DefaultRequestTimeout)
	c.SaveInterval = cmp.Or(c.SaveInterval, DefaultSaveInterval)
	c.FlushEvery = cmp.Or(c.FlushEvery, DefaultFlushEvery)
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
	check(c.App == "", "app is required")
	check(!replicaIDRE.MatchString(c.ReplicaID), "replica id %q: letters, digits, '-' and '_' only", c.ReplicaID)
	check(c.StatusInterval <= 0, "status interval %s is not positive", c.StatusInterval)
	check(c.StatusInterval*2 > c.Stores.StatusTTL, "status interval %s is over half the status TTL %s: live replicas would blink out", c.StatusInterval, c.Stores.StatusTTL)
	check(c.RetryWait <= 0, "retry wait %s is not positive", c.RetryWait)
	check(c.RequestTimeout <= 0, "request timeout %s is not positive", c.RequestTimeout)
	check(c.SaveInterval < 0, "save interval %s is negative", c.SaveInterval)
	check(c.FlushEvery < 1, "flush every %d < 1", c.FlushEvery)
	if err := c.Stores.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	if c.Seed != nil {
		if _, err := decider.Compile(c.Seed, 0); err != nil {
			errs = append(errs, fmt.Errorf("%w: seed %s: %w", ErrInvalidConfig, c.SeedSource, err))
		}
	}
	return errors.Join(errs...)
}
