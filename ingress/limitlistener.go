package ingress

import (
	"net"
	"sync"
)

// limitListener caps the open connections of a listener, as
// golang.org/x/net/netutil.LimitListener does: Accept waits for a free slot
// before it accepts, so past the cap new connections wait in the kernel's
// accept queue (bounded by its backlog) instead of costing a file
// descriptor and a goroutine each. Every wait is counted by reached.
type limitListener struct {
	net.Listener
	sem     chan struct{}
	done    chan struct{}
	once    sync.Once
	reached func() // called when Accept finds every slot taken
	open    func(delta float64)
}

func newLimitListener(ln net.Listener, n int, reached func(), open func(float64)) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{}),
		reached: reached, open: open}
}

// acquire takes a slot, waiting for one when all are taken; false once the
// listener is closed.
func (l *limitListener) acquire() bool {
	select {
	case l.sem <- struct{}{}:
		return true
	case <-l.done:
		return false
	default:
	}
	l.reached()
	select {
	case l.sem <- struct{}{}:
		return true
	case <-l.done:
		return false
	}
}

func (l *limitListener) release() { <-l.sem }

func (l *limitListener) Accept() (net.Conn, error) {
	if !l.acquire() {
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.release()
		return nil, err
	}
	l.open(1)
	return &limitConn{Conn: c, l: l}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back on its first Close.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open(-1)
		c.l.release()
	})
	return err
}
