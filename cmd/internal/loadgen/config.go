package loadgen

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// ErrInvalidConfig wraps every error of Config validation.
var ErrInvalidConfig = errors.New("invalid loadgen config")

// Defaults applied by Run to zero fields of Config.
const (
	DefaultSdkAppID      = "1400000000"
	DefaultConcurrency   = 64
	DefaultDuration      = 10 * time.Second // only when Requests is 0 too
	DefaultTimeout       = 2 * time.Second  // IM's budget, which IM does not let anyone change
	DefaultOperators     = 10_000
	DefaultGroups        = 2_000
	DefaultUsers         = 100_000
	DefaultZipfS         = 1.1
	DefaultMaxMembers    = 5
	DefaultBannedIDs     = 100
	DefaultProgressEvery = time.Second
)

// DefaultPlatforms are the OptPlatform values drawn, uniformly, when Config.Platforms is empty.
var DefaultPlatforms = []string{"Android", "iOS", "Web", "Windows", "Mac", "RESTAPI"}

// Config is one load run. Zero fields take the defaults above; shares have
// no default (0 means none), so the command should give its flags the
// defaults it wants (0.05 is a fair banned share).
type Config struct {
	// URL is the callback URL without a query string (http or https), or a
	// comma-separated list of them: requests are then spread round-robin
	// (request i goes to URL i mod n), as IM spreads callbacks over the
	// addresses behind a load balancer.
	URL string
	// SdkAppID is sent as the SdkAppid query parameter. Default DefaultSdkAppID.
	SdkAppID string
	// Token, when set, signs every request like IM's callback authentication:
	// Sign = lowercase hex sha256(Token + RequestTime), RequestTime in unix seconds.
	Token string

	// Rate is the open-loop target in requests per second: requests are sent
	// on schedule whatever the answers, and latency is measured from each
	// request's scheduled time (no coordinated omission). 0 means closed-loop.
	Rate float64
	// Concurrency is the number of workers: in closed-loop each sends its next
	// request when the previous one is answered; in open-loop it caps the
	// requests in flight. Default DefaultConcurrency.
	Concurrency int
	// Duration and Requests bound the run; the first reached ends it. When
	// both are 0, Duration is DefaultDuration.
	Duration time.Duration
	Requests int64
	// Timeout of one request, connection included. Default 2 s, like IM.
	Timeout time.Duration

	// Operators is the number of distinct inviting users, drawn from a Zipf
	// distribution of exponent OperatorsZipf (> 0; default DefaultZipfS).
	Operators     int
	OperatorsZipf float64
	// Groups is the number of distinct groups, drawn from a Zipf distribution
	// of exponent GroupsZipf.
	Groups     int
	GroupsZipf float64
	// Users is the population invited members are drawn from, uniformly.
	Users int
	// MaxMembers: each invite carries 1..MaxMembers distinct members, uniformly.
	MaxMembers int
	// BannedShare is the probability, per operator and per member, of drawing
	// an id from the banned set "banned-0" .. "banned-<BannedIDs-1>" instead.
	BannedShare float64
	BannedIDs   int
	// MembershipShare is the share of requests that are membership callbacks
	// (Group.CallbackAfterNewMemberJoin and Group.CallbackAfterMemberExit, half each).
	MembershipShare float64
	// Platforms are the OptPlatform values, drawn uniformly. Default DefaultPlatforms.
	Platforms []string
	// Seed makes the drawn traffic reproducible (0 is a seed like any other).
	Seed uint64
	// RunID is the prefix of every request key and GroupId suffix (at most 16
	// letters, digits, '-' or '_'); default a fresh base-36 stamp of the start
	// time in nanoseconds, so two runs never share a GroupId.
	RunID string

	// RecordFile, when set, receives one JSON line per request sent (see Record).
	RecordFile string
	// Progress, when set, receives a line every ProgressEvery (default 1 s).
	Progress      io.Writer
	ProgressEvery time.Duration
	// JSON selects JSON progress lines and JSON for Report.Write.
	JSON bool

	// Now is the wall clock for EventTime and RequestTime (default time.Now).
	// Scheduling and latency always use the monotonic clock.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.SdkAppID = cmp.Or(c.SdkAppID, DefaultSdkAppID)
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	if c.Duration == 0 && c.Requests == 0 {
		c.Duration = DefaultDuration
	}
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.Operators = cmp.Or(c.Operators, DefaultOperators)
	c.OperatorsZipf = cmp.Or(c.OperatorsZipf, DefaultZipfS)
	c.Groups = cmp.Or(c.Groups, DefaultGroups)
	c.GroupsZipf = cmp.Or(c.GroupsZipf, DefaultZipfS)
	c.Users = cmp.Or(c.Users, DefaultUsers)
	c.MaxMembers = cmp.Or(c.MaxMembers, DefaultMaxMembers)
	c.BannedIDs = cmp.Or(c.BannedIDs, DefaultBannedIDs)
	if len(c.Platforms) == 0 {
		c.Platforms = DefaultPlatforms
	}
	c.ProgressEvery = cmp.Or(c.ProgressEvery, DefaultProgressEvery)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	if err := validateURLs(c); err != nil {
		return err
	}
	checks := []struct {
		bad bool
		msg string
	}{
		{c.Rate < 0, fmt.Sprintf("rate %v must be >= 0", c.Rate)},
		{c.Concurrency < 1, fmt.Sprintf("concurrency %d must be >= 1", c.Concurrency)},
		{c.Duration < 0, fmt.Sprintf("duration %v must be >= 0", c.Duration)},
		{c.Requests < 0, fmt.Sprintf("requests %d must be >= 0", c.Requests)},
		{c.Timeout < 0, fmt.Sprintf("timeout %v must be > 0", c.Timeout)},
		{c.Operators < 1, fmt.Sprintf("operators %d must be >= 1", c.Operators)},
		{c.OperatorsZipf <= 0, fmt.Sprintf("operators zipf exponent %v must be > 0", c.OperatorsZipf)},
		{c.Groups < 1, fmt.Sprintf("groups %d must be >= 1", c.Groups)},
		{c.GroupsZipf <= 0, fmt.Sprintf("groups zipf exponent %v must be > 0", c.GroupsZipf)},
		{c.Users < 1, fmt.Sprintf("users %d must be >= 1", c.Users)},
		{c.MaxMembers < 1, fmt.Sprintf("max members %d must be >= 1", c.MaxMembers)},
		{c.MaxMembers > c.Users+c.BannedIDs, fmt.Sprintf("max members %d exceeds users+banned ids %d", c.MaxMembers, c.Users+c.BannedIDs)},
		{c.BannedShare < 0 || c.BannedShare > 1, fmt.Sprintf("banned share %v must be in [0, 1]", c.BannedShare)},
		{c.BannedIDs < 1, fmt.Sprintf("banned ids %d must be >= 1", c.BannedIDs)},
		{c.MembershipShare < 0 || c.MembershipShare > 1, fmt.Sprintf("membership share %v must be in [0, 1]", c.MembershipShare)},
		{c.ProgressEvery < 0, fmt.Sprintf("progress interval %v must be > 0", c.ProgressEvery)},
	}
	for _, ch := range checks {
		if ch.bad {
			return fmt.Errorf("%w: %s", ErrInvalidConfig, ch.msg)
		}
	}
	if !validRunID(c.RunID) {
		return fmt.Errorf("%w: run id %q: at most 16 letters, digits, '-' or '_' (it goes into every GroupId)", ErrInvalidConfig, c.RunID)
	}
	for i, p := range c.Platforms {
		if p == "" {
			return fmt.Errorf("%w: platform %d is empty", ErrInvalidConfig, i)
		}
	}
	return nil
}

// validRunID keeps GroupIds printable ASCII under IM's 48 bytes. "" is
// valid: Run then makes one.
func validRunID(id string) bool {
	if len(id) > 16 {
		return false
	}
	for _, c := range id {
		ok := c == '-' || c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// targets splits URL into its comma-separated callback URLs.
func (c Config) targets() []string {
	var out []string
	for _, u := range strings.Split(c.URL, ",") {
		out = append(out, strings.TrimSpace(u))
	}
	return out
}

// maxTargets bounds the comma-separated URL list.
const maxTargets = 64

func validateURLs(c Config) error {
	ts := c.targets()
	if len(ts) > maxTargets {
		return fmt.Errorf("%w: url: %d targets, at most %d", ErrInvalidConfig, len(ts), maxTargets)
	}
	for _, u := range ts {
		if err := validateURL(u); err != nil {
			return err
		}
	}
	return nil
}

func validateURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("%w: url is required", ErrInvalidConfig)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: url: %w", ErrInvalidConfig, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: url %q: scheme must be http or https", ErrInvalidConfig, raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: url %q has no host", ErrInvalidConfig, raw)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return fmt.Errorf("%w: url %q must have no query: loadgen adds IM's parameters", ErrInvalidConfig, raw)
	}
	return nil
}
