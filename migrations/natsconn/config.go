package natsconn

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config says how to reach NATS. Only cmd fills it (from flags); an empty
// URL means "embed a server" and uses Embedded.
type Config struct {
	// URL is a NATS URL or a comma-separated list of them. Empty: embedded server.
	URL string
	// CredsFile is a .creds file (JWT and nkey seed). Only with URL.
	CredsFile string
	// NKeyFile is a file holding an nkey seed. Only with URL; not with CredsFile.
	NKeyFile string
	// TLSCA is a PEM file of CAs to verify the server. Only with URL.
	TLSCA string
	// TLSCert and TLSKey are a PEM client certificate and its key, both or neither.
	TLSCert string
	TLSKey  string
	// Name is the connection name shown by the server. Default "invitegate".
	Name string
	// ReconnectWait is the pause between reconnect attempts. Default 1 s.
	ReconnectWait time.Duration
	// PingInterval is how often the client pings its server. Two pings
	// left unanswered close the connection, and the client reconnects to
	// another server of the cluster: a frozen or cut-off server is left
	// within about three intervals instead of the minutes of nats.go's
	// default. Default 5 s.
	PingInterval time.Duration
	// ReconnectBufSize bounds what the client buffers while reconnecting;
	// publishes beyond it fail at once (the outbox retries them). Default 16 MiB.
	ReconnectBufSize int
	// Embedded configures the in-process server used when URL is empty.
	Embedded EmbeddedConfig
}

// EmbeddedConfig configures the in-process nats-server.
type EmbeddedConfig struct {
	// StoreDir is the JetStream store directory. Default "./.data/nats".
	StoreDir string
	// ListenAddr is host:port for a TCP listener; empty means in-process only
	// (no port is opened). Port 0 picks a free port.
	ListenAddr string
	// SyncAlways fsyncs every write before the PubAck (sync_interval: always).
	SyncAlways bool
}

// Defaults.
const (
	DefaultName             = "invitegate"
	DefaultStoreDir         = "./.data/nats"
	DefaultReconnectWait    = time.Second
	DefaultPingInterval     = 5 * time.Second
	DefaultReconnectBufSize = 16 << 20
	// DrainTimeout bounds draining the connection at stop.
	DrainTimeout = 3 * time.Second
)

// ErrInvalidConfig is wrapped by every validation error of this package.
var ErrInvalidConfig = errors.New("invalid nats config")

func (c Config) withDefaults() Config {
	c.Name = cmp.Or(c.Name, DefaultName)
	c.ReconnectWait = cmp.Or(c.ReconnectWait, DefaultReconnectWait)
	c.PingInterval = cmp.Or(c.PingInterval, DefaultPingInterval)
	c.ReconnectBufSize = cmp.Or(c.ReconnectBufSize, DefaultReconnectBufSize)
	c.Embedded = c.Embedded.withDefaults()
	return c
}

func (c EmbeddedConfig) withDefaults() EmbeddedConfig {
	c.StoreDir = cmp.Or(c.StoreDir, DefaultStoreDir)
	return c
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// validate checks c after defaults; errors name the offending field.
func (c Config) validate() error {
	if c.ReconnectWait < 0 {
		return invalid("reconnect wait %s is negative", c.ReconnectWait)
	}
	if c.PingInterval < 0 {
		return invalid("ping interval %s is negative", c.PingInterval)
	}
	if c.ReconnectBufSize < 0 {
		return invalid("reconnect buffer size %d is negative", c.ReconnectBufSize)
	}
	if c.URL == "" {
		for _, f := range c.files() {
			if f.path != "" {
				return invalid("%s %q given without a URL (the embedded server takes none)", f.name, f.path)
			}
		}
		return c.Embedded.validate()
	}
	if c.Embedded.ListenAddr != "" {
		return invalid("embedded listen address %q given with URL %q", c.Embedded.ListenAddr, c.URL)
	}
	for _, u := range strings.Split(c.URL, ",") {
		if strings.TrimSpace(u) == "" {
			return invalid("URL %q has an empty entry", c.URL)
		}
	}
	if c.CredsFile != "" && c.NKeyFile != "" {
		return invalid("creds file and nkey file are exclusive")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return invalid("tls cert and tls key go together (cert %q, key %q)", c.TLSCert, c.TLSKey)
	}
	for _, f := range c.files() {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return invalid("%s: %v", f.name, err)
		}
	}
	return nil
}

type namedFile struct{ name, path string }

func (c Config) files() []namedFile {
	return []namedFile{{"creds file", c.CredsFile}, {"nkey file", c.NKeyFile},
		{"tls ca", c.TLSCA}, {"tls cert", c.TLSCert}, {"tls key", c.TLSKey}}
}

func (c EmbeddedConfig) validate() error {
	if c.ListenAddr == "" {
		return nil
	}
	_, _, err := splitListenAddr(c.ListenAddr)
	return err
}

// splitListenAddr parses host:port; port 0 becomes -1 (nats-server's "random").
func splitListenAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, invalid("embedded listen address %q: %v", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, invalid("embedded listen address %q: bad port %q", addr, portStr)
	}
	if port == 0 {
		port = -1 // nats-server reads 0 as its default port 4222
	}
	return host, port, nil
}
