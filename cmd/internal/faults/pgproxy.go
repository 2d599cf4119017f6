package faults

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// PGProxy is an in-process TCP proxy (toxiproxy) between a client and
// PostgreSQL, on 127.0.0.1 and a port it keeps across cuts.
type PGProxy struct {
	proxy *toxiproxy.Proxy

	mu      sync.Mutex
	toxics  []string
	stopped bool
}

// blackholeToxics drop every byte both ways and never close the connection
// (toxiproxy's timeout toxic with timeout 0): a partition, not a refusal.
var blackholeToxics = []struct{ name, stream string }{
	{"blackhole_up", "upstream"},
	{"blackhole_down", "downstream"},
}

// NewPGProxy starts a proxy to upstream (host:port).
func NewPGProxy(upstream string) (*PGProxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "postgres", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start postgres proxy: %w", err)
	}
	return &PGProxy{proxy: p}, nil
}

// Addr is the proxy's host:port.
func (x *PGProxy) Addr() string {
	x.proxy.Lock()
	defer x.proxy.Unlock()
	return x.proxy.Listen
}

// URL returns dsn (a postgres:// URL) with its host:port replaced by the proxy's.
func (x *PGProxy) URL(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	u.Host = x.Addr()
	return u.String(), nil
}

// Blackhole makes the proxy swallow every byte, both ways, on existing and
// new connections: queries hang, connects time out.
func (x *PGProxy) Blackhole() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range blackholeToxics {
		js := fmt.Sprintf(`{"name":%q,"type":"timeout","stream":%q,"toxicity":1,"attributes":{"timeout":0}}`, t.name, t.stream)
		if _, err := x.proxy.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
			return fmt.Errorf("add toxic %s: %w", t.name, err)
		}
		x.toxics = append(x.toxics, t.name)
	}
	return nil
}

// Refuse closes every proxied connection and the listener: connects are
// refused until Restore.
func (x *PGProxy) Refuse() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.stopped {
		x.proxy.Stop()
		x.stopped = true
	}
}

// Restore removes the blackhole (closing the connections it held) and
// listens again on the same port.
func (x *PGProxy) Restore() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, name := range x.toxics {
		if err := x.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
			return fmt.Errorf("remove toxic %s: %w", name, err)
		}
	}
	x.toxics = nil
	if x.stopped {
		if err := x.proxy.Start(); err != nil {
			return fmt.Errorf("restart postgres proxy: %w", err)
		}
		x.stopped = false
	}
	return nil
}

// Close stops the proxy for good.
func (x *PGProxy) Close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.proxy.Stop()
	x.stopped = true
}
