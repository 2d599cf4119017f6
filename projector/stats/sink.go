package stats

import (
	"context"
	"sync"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// Sink receives every published update, e.g. a CounterStore.
type Sink interface {
	Write(ctx context.Context, updates []decider.StatUpdate) error
}

// sinkQueue hands published updates to a Sink in its own goroutine, so a
// slow database never delays publishing to the ingress replicas. Updates
// waiting while a write runs are coalesced (one value per key), so the
// queue is bounded by the number of live keys.
type sinkQueue struct {
	sink    Sink
	retry   time.Duration
	mu      sync.Mutex
	pending map[sinkKey]decider.StatUpdate
	wake    chan struct{}
	written chan struct{} // closed and replaced after each write attempt (tests wait on it)
}

type sinkKey struct {
	stat     decider.Stat
	app, key string
}

func newSinkQueue(s Sink, retry time.Duration) *sinkQueue {
	return &sinkQueue{sink: s, retry: retry, pending: map[sinkKey]decider.StatUpdate{}, wake: make(chan struct{}, 1), written: make(chan struct{})}
}

func (q *sinkQueue) add(us []decider.StatUpdate) {
	if len(us) == 0 {
		return
	}
	q.mu.Lock()
	for _, u := range us {
		q.pending[sinkKey{u.Stat, u.App, u.Key}] = u
	}
	q.mu.Unlock()
	q.poke()
}

func (q *sinkQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run writes until ctx ends; a failed batch is merged back under newer
// values and retried after the retry wait (or sooner, with new updates). The error goes to onErr.
func (q *sinkQueue) run(ctx context.Context, onErr func(error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		q.mu.Lock()
		batch := q.pending
		q.pending = make(map[sinkKey]decider.StatUpdate, len(batch))
		q.mu.Unlock()
		us := make([]decider.StatUpdate, 0, len(batch))
		for _, u := range batch {
			us = append(us, u)
		}
		if err := q.sink.Write(ctx, us); err != nil {
			onErr(err)
			q.mu.Lock()
			for k, u := range batch {
				if _, newer := q.pending[k]; !newer {
					q.pending[k] = u
				}
			}
			q.mu.Unlock()
			time.AfterFunc(q.retry, q.poke)
		}
		q.mu.Lock()
		close(q.written)
		q.written = make(chan struct{})
		q.mu.Unlock()
	}
}

func (q *sinkQueue) writtenCh() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.written
}
