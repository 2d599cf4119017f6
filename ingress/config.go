package ingress

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// Defaults of Config. The timeouts are sized by IM's budget: IM waits 2 s for
// an answer and never retries a before-event callback, so a request that
// takes longer than that to arrive or to be answered is worthless; IM keeps
// connections alive, so idle connections are kept long enough to be reused.
const (
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultAdminAddr         = "127.0.0.1:9090"
	DefaultCallbackPath      = "/callback"
	DefaultMaxClockSkew      = 60 * time.Second
	DefaultMaxBodyBytes      = 1 << 20 // 1 MiB
	DefaultReadHeaderTimeout = 2 * time.Second
	DefaultReadTimeout       = 3 * time.Second
	DefaultWriteTimeout      = 3 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10 // 64 KiB
	DefaultShutdownTimeout   = 5 * time.Second
	DefaultMaxConnections    = 1024
)

// Config configures a Handler and a Server. The zero value of every field but
// SdkAppID means its default. cmd fills it from flags; packages never read
// the environment.
type Config struct {
	// HTTPAddr is the callback listener's host:port (default 127.0.0.1:8080).
	// Port 0 picks a free port; Server.Addr reports the bound address.
	HTTPAddr string
	// AdminAddr is the admin listener's host:port for /metrics, /healthz and
	// /readyz (default 127.0.0.1:9090). Port 0 picks a free port.
	AdminAddr string
	// Pprof serves Go's profiles under /debug/pprof/ on the admin listener
	// (off by default: a CPU profile costs CPU while it runs).
	Pprof bool
	// CallbackPath is the URL path IM posts to (default /callback). Other
	// paths on HTTPAddr answer 404.
	CallbackPath string
	// SdkAppID is the app's SDKAppID; a callback whose SdkAppid query
	// parameter differs is answered 403. Required.
	SdkAppID string
	// CallbackToken is the callback authentication token from the IM
	// console. When set, Sign and RequestTime are required and checked
	// (401 otherwise); when empty, callbacks are not authenticated.
	CallbackToken string
	// MaxClockSkew is how far RequestTime may be from now, either way
	// (default 60s, Tencent's own replay rule).
	MaxClockSkew time.Duration
	// MaxBodyBytes bounds a callback body (default 1 MiB); larger is 413.
	MaxBodyBytes int64
	// MaxMembers bounds the members of one callback (default and most
	// decider.DefaultMaxMembers, at which rules are costed). An invite with
	// more is answered by the fail mode without consulting the policy; a
	// membership callback with more is recorded with its first MaxMembers.
	// Both are counted and marked on the event (limit "max_members").
	MaxMembers int
	// MaxConnections bounds the callback listener's open connections
	// (default 1024, far above what IM keeps open: a few connections per
	// thousand callbacks a second); past it new connections wait in the
	// kernel's accept queue until one closes, and the wait is counted.
	MaxConnections int
	// ReadHeaderTimeout bounds reading a request's headers, from its first
	// byte (default 2s: IM's whole budget).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body
	// (default 3s: past IM's 2 s budget the answer is worthless).
	ReadTimeout time.Duration
	// WriteTimeout bounds handling and writing the answer, from the end of
	// the headers (default 3s; a decision takes microseconds).
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its next
	// request (default 30s: IM reuses a busy connection at once and opens
	// another within milliseconds when one was closed, so a longer wait
	// only holds file descriptors for idle or hostile clients).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (default 64 KiB;
	// IM sends a short query string and few headers).
	MaxHeaderBytes int
	// ShutdownTimeout bounds Server.Stop when its context has no earlier
	// deadline (default 5s: in-flight callbacks are useless after 2 s).
	ShutdownTimeout time.Duration
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.HTTPAddr = cmp.Or(c.HTTPAddr, DefaultHTTPAddr)
	c.AdminAddr = cmp.Or(c.AdminAddr, DefaultAdminAddr)
	c.CallbackPath = cmp.Or(c.CallbackPath, DefaultCallbackPath)
	c.MaxClockSkew = cmp.Or(c.MaxClockSkew, DefaultMaxClockSkew)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.MaxMembers = cmp.Or(c.MaxMembers, decider.DefaultMaxMembers)
	c.MaxConnections = cmp.Or(c.MaxConnections, DefaultMaxConnections)
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, DefaultReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.MaxHeaderBytes = cmp.Or(c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	return c
}

// validate reports every problem of a defaulted Config at once.
func (c Config) validate() error {
	var errs []error
	if strings.TrimSpace(c.SdkAppID) == "" {
		errs = append(errs, errors.New("SdkAppID is required"))
	}
	errs = append(errs, validateAddr("HTTPAddr", c.HTTPAddr), validateAddr("AdminAddr", c.AdminAddr))
	if c.HTTPAddr == c.AdminAddr && !strings.HasSuffix(c.HTTPAddr, ":0") {
		errs = append(errs, fmt.Errorf("HTTPAddr and AdminAddr are both %q", c.HTTPAddr))
	}
	if !strings.HasPrefix(c.CallbackPath, "/") || strings.ContainsAny(c.CallbackPath, "?# \t") {
		errs = append(errs, fmt.Errorf("CallbackPath %q must start with / and hold no query, fragment or space", c.CallbackPath))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"MaxClockSkew", c.MaxClockSkew}, {"ReadHeaderTimeout", c.ReadHeaderTimeout},
		{"ReadTimeout", c.ReadTimeout}, {"WriteTimeout", c.WriteTimeout},
		{"IdleTimeout", c.IdleTimeout}, {"ShutdownTimeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", d.name, d.v))
		}
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes must be positive, got %d", c.MaxBodyBytes))
	}
	if c.MaxMembers < 1 || c.MaxMembers > decider.DefaultMaxMembers {
		errs = append(errs, fmt.Errorf("MaxMembers must be in 1..%d (rules are costed at %d members), got %d",
			decider.DefaultMaxMembers, decider.DefaultMaxMembers, c.MaxMembers))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("MaxConnections must be positive, got %d", c.MaxConnections))
	}
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxHeaderBytes must be positive, got %d", c.MaxHeaderBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ingress config: %w", err)
	}
	return nil
}

func validateAddr(name, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s %q is not host:port: %w", name, addr, err)
	}
	return nil
}
