package policystore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Timing of a Reader's consumer.
const (
	// readerHeartbeat is the idle heartbeat the server sends on a pull
	// while no event is new; two missed ones replace the consumer (its
	// server died or froze while this connection stayed up).
	readerHeartbeat = time.Second
	// createTimeout bounds one request creating the consumer. While a
	// JetStream leader is elected (a server of the cluster died) such a
	// request goes unanswered; the first one sent after the election is
	// answered in milliseconds, so a short bound replaces the consumer
	// moments after the election instead of a long timeout later.
	createTimeout = time.Second
	// recreateFor is how long a Reader keeps trying to create its consumer
	// before Next returns the error.
	recreateFor = 30 * time.Second
	// consumerInactive is how long the server keeps a consumer no pull
	// reaches (one left behind by a reader that died).
	consumerInactive = 2 * time.Minute
)

// ErrReaderStopped is returned by Next once Stop was called.
var ErrReaderStopped = errors.New("policy log reader stopped")

// Reader reads policy events in stream order, each once. It reads through
// one ephemeral consumer at a time (in memory, one replica, no acks) and
// replaces it, starting after the last event it returned, as soon as
// one of these happens: the connection to NATS is re-established (the
// consumer may have lived on the server that went away), the server misses
// two idle heartbeats, a delivery is missing, or the consumer is deleted.
// Each creation is a request bounded by createTimeout, repeated for up to
// recreateFor.
type Reader struct {
	js     jetstream.JetStream
	stream string
	filter string

	// Owned by Next.
	next uint64 // stream sequence of the next event to return
	dseq uint64 // consumer sequence of the last delivery
	name string // the current consumer ("" before the first)

	mu      sync.Mutex
	it      jetstream.MessagesContext // nil: no consumer to read from
	renew   bool                      // the connection came back since it was made
	stopped bool
	done    chan struct{}
	status  chan nats.Status
}

// NewReader reads the events of stream matching filter (one app's
// decider.PolicyAppSubjects, or decider.PolicySubjects for all) from
// sequence from (0 or 1: the first), through js. It creates the first
// consumer under ctx.
func NewReader(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, filter string, from uint64) (*Reader, error) {
	r := &Reader{js: js, stream: stream.CachedInfo().Config.Name, filter: filter, next: max(from, 1),
		done: make(chan struct{})}
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	r.status = js.Conn().StatusChanged(nats.CONNECTED)
	go r.watchConnection()
	return r, nil
}

// watchConnection has Next replace the consumer after each reconnect.
func (r *Reader) watchConnection() {
	for {
		select {
		case <-r.done:
			return
		case _, ok := <-r.status:
			if !ok {
				return
			}
			r.mu.Lock()
			r.renew = true
			it := r.it
			r.mu.Unlock()
			if it != nil {
				it.Stop() // a Next blocked in it returns and replaces it
			}
		}
	}
}

// Next returns the next record and how many are pending after it. It
// blocks until one arrives or ctx ends; then the Reader is still usable.
// After Stop it returns ErrReaderStopped.
func (r *Reader) Next(ctx context.Context) (Record, uint64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Record{}, 0, fmt.Errorf("read policy log: %w", err)
		}
		r.mu.Lock()
		it, stopped, renew := r.it, r.stopped, r.renew
		r.mu.Unlock()
		if stopped {
			return Record{}, 0, ErrReaderStopped
		}
		if it == nil || renew {
			if it != nil {
				r.drop(it) // it may live on the server that went away
			}
			if err := r.open(ctx); err != nil {
				return Record{}, 0, err
			}
			continue
		}
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return Record{}, 0, fmt.Errorf("read policy log: %w", ctx.Err())
			}
			r.drop(it) // stopped by a reconnect, heartbeats missed, consumer gone
			continue
		}
		meta, err := msg.Metadata()
		if err != nil {
			return Record{}, 0, fmt.Errorf("read policy log: %w", err)
		}
		if meta.Sequence.Consumer != r.dseq+1 {
			r.drop(it) // a delivery went missing: read again from r.next
			continue
		}
		r.dseq = meta.Sequence.Consumer
		if meta.Sequence.Stream < r.next {
			continue // returned already
		}
		r.next = meta.Sequence.Stream + 1
		return recordOf(msg.Subject(), msg.Data(), msg.Headers(), meta.Sequence.Stream, meta.Timestamp), meta.NumPending, nil
	}
}

// drop stops it and deletes its consumer in the background.
func (r *Reader) drop(it jetstream.MessagesContext) {
	it.Stop()
	r.mu.Lock()
	if r.it == it {
		r.it = nil
	}
	r.mu.Unlock()
	r.deleteConsumer(r.name)
}

// deleteConsumer deletes a consumer no longer read, at most createTimeout
// later; one not reached expires after consumerInactive.
func (r *Reader) deleteConsumer(name string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), createTimeout)
		defer cancel()
		_ = r.js.DeleteConsumer(ctx, r.stream, name) //nolint:errcheck // it expires anyway
	}()
}

// open creates a consumer from r.next and reads from it, retrying each
// unanswered or failed creation for up to recreateFor. Each attempt
// creates a consumer of its own name: the server places a new consumer
// afresh, whereas the same name stays where it was first placed, which may
// be the server that just died (the cluster does not know it yet), so
// that every retry would go unanswered until that server returns.
func (r *Reader) open(ctx context.Context) error {
	giveUp := time.Now().Add(recreateFor)
	wait := 50 * time.Millisecond
	for {
		select {
		case <-r.done:
			return ErrReaderStopped
		default:
		}
		r.mu.Lock()
		r.renew = false
		r.name = nuid.Next()
		r.mu.Unlock()
		cfg := jetstream.ConsumerConfig{
			Name:              r.name,
			FilterSubject:     r.filter,
			DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:       r.next,
			AckPolicy:         jetstream.AckNonePolicy,
			InactiveThreshold: consumerInactive,
			Replicas:          1,
			MemoryStorage:     true,
		}
		actx, cancel := context.WithTimeout(ctx, createTimeout)
		cons, err := r.js.CreateOrUpdateConsumer(actx, r.stream, cfg)
		cancel()
		if err == nil {
			return r.read(cons)
		}
		r.deleteConsumer(r.name) // in case it was made and the answer lost
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("policy log consumer: %w", ctx.Err())
		case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, nats.ErrConnectionClosed),
			time.Now().After(giveUp):
			return fmt.Errorf("policy log consumer: %w", err)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			continue // unanswered: the wait was the timeout
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("policy log consumer: %w", ctx.Err())
		case <-r.done:
			t.Stop()
			return ErrReaderStopped
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// read starts pulling from cons.
func (r *Reader) read(cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxBytes(maxPullBytes), jetstream.PullHeartbeat(readerHeartbeat),
		jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		r.deleteConsumer(r.name)
		return fmt.Errorf("policy log consumer: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		it.Stop()
		r.deleteConsumer(r.name)
		return ErrReaderStopped
	}
	r.it, r.dseq = it, 0
	return nil
}

// maxPullBytes bounds what a consumer buffers; it must exceed the largest
// message the server accepts (max_payload: 1 MiB by default, 8 MiB at most).
const maxPullBytes = 16 << 20

// Stop ends the reader and deletes its consumer; a Next blocked in it
// returns. It may be called more than once and from another goroutine.
func (r *Reader) Stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	it, name := r.it, r.name
	r.it = nil
	close(r.done)
	r.mu.Unlock()
	r.js.Conn().RemoveStatusListener(r.status)
	if it != nil {
		it.Stop()
		r.deleteConsumer(name)
	}
}
