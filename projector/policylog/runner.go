package policylog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// runner owns the goroutine of a Compactor or a RevisionWriter: it runs
// follow until it fails, logs the failure and starts over after a pause.
type runner struct {
	name   string
	wait   time.Duration
	logger *slog.Logger
	m      *metrics

	mu     sync.Mutex
	state  int // 0 new, 1 started, 2 stopped
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *runner) start(follow func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != 0 {
		return
	}
	r.state = 1
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		for {
			err := follow(ctx)
			if ctx.Err() != nil {
				return
			}
			r.m.errors.Inc()
			r.logger.Warn(r.name+" failed; starting over", "err", err, "retry_in", r.wait.String())
			t := time.NewTimer(r.wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
}

// stop is idempotent and tolerates a stop before a start.
func (r *runner) stop(ctx context.Context) error {
	r.mu.Lock()
	started := r.state == 1
	r.state = 2
	r.mu.Unlock()
	if !started {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", r.name, ctx.Err())
	}
}
