package projector_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

// proxy is a TCP proxy to the machine's PostgreSQL that the test can cut
// (close every connection and refuse new ones) and restore.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.track(c, up)
	}
}

func (p *proxy) track(c, up net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	p.wg.Add(2)
	go pipe(c, up)
	go pipe(up, c)
}

// cut closes every proxied connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	px := newProxy(t, pgtest.Addr())
	cfg := b.cfg
	cfg.DatabaseURL = replaceHost(b.dsn, px.addr())
	_, reg := b.worker(t, cfg, b.js, newPool(t, cfg.DatabaseURL))

	evs := invites(3000)
	b.publish(t, evs[:1000], 10)
	waitRows(t, b.pool, "invite_events", 1000)

	px.cut()
	// Two messages of BatchSize events: one batch for each writer, held
	// through the outage.
	b.publish(t, evs[1000:], 1000)
	// Retries back off to RetryMax (100ms): 30 of them outlast AckWait (1s),
	// which "in progress" must keep from expiring.
	require.Eventually(t, func() bool {
		return counterValue(t, reg, "invitegate_projector_batches_total", "result", "retry") >= 30
	}, waitFor, 10*time.Millisecond)
	require.Equal(t, 1000, count(t, b.pool, "SELECT count(*) FROM invitegate.invite_events"))
	px.restore()

	waitRows(t, b.pool, "invite_events", 3000)
	waitRows(t, b.pool, "invite_members", 6000)
	require.Eventually(t, func() bool {
		info, err := b.consumerInfo()
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, waitFor, 10*time.Millisecond)
	info, err := b.consumerInfo()
	require.NoError(t, err)
	require.Zero(t, info.NumRedelivered, "the outage spent no delivery")
	require.Equal(t, 0, count(t, b.pool, "SELECT count(*) FROM invitegate.dead_letters"))
	requireRollupsMatchRows(t, b.pool)
}

// replaceHost points a postgres:// url of the test server at addr.
func replaceHost(dsn, addr string) string {
	from := pgtest.Addr()
	if !strings.Contains(dsn, from) {
		panic("no " + from + " in " + dsn)
	}
	return strings.Replace(dsn, from, addr, 1)
}
