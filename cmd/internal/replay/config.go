package replay

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// Config says what to replay.
type Config struct {
	// DatabaseURL is the database holding invite_events (required). A
	// read-only role is enough.
	DatabaseURL string
	// Candidate is the policy to decide with (required).
	Candidate *decider.Snapshot
	// Since and Until bound received_at: Since <= received_at < Until
	// (Until defaults to now).
	Since, Until time.Time
	// App, when not empty, keeps only that app's invites.
	App string
	// Workers decide in parallel. Default runtime.GOMAXPROCS(0).
	Workers int
	// Samples is how many changed invites the summary shows. Default 5.
	Samples int
	// Top is how many operators and groups the summary ranks. Default 10.
	Top int
	// TopCapacity bounds the keys each worker counts per ranking. Default 20,000.
	TopCapacity int
	// Progress, when not nil, is called with the rows read so far, from
	// the reading goroutine, every few thousand rows.
	Progress func(rows int64)
}

func (c *Config) withDefaults() Config {
	out := *c
	out.Workers = cmp.Or(out.Workers, runtime.GOMAXPROCS(0))
	out.Samples = cmp.Or(out.Samples, 5)
	out.Top = cmp.Or(out.Top, 10)
	out.TopCapacity = cmp.Or(out.TopCapacity, 20_000)
	if out.Until.IsZero() {
		out.Until = time.Now()
	}
	return out
}

func (c *Config) validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("replay config: DatabaseURL is required")
	case c.Candidate == nil:
		return errors.New("replay config: Candidate is required")
	case !c.Since.Before(c.Until):
		return fmt.Errorf("replay config: Since (%s) must be before Until (%s)", c.Since.Format(time.RFC3339), c.Until.Format(time.RFC3339))
	case c.Workers < 1:
		return fmt.Errorf("replay config: Workers %d: want at least 1", c.Workers)
	}
	return nil
}
