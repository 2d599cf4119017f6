package policylog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/invitegate/invitegate/decider/startstop"
)

// runner owns the goroutine of a Compactor or a RevisionWriter: it runs
// follow until it fails, logs the failure and starts over after a pause.
type runner struct {
	name   string
	wait   time.Duration
	logger *slog.Logger
	m      *metrics

	life   startstop.State
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs follow in the background; after stop it returns
// startstop.ErrStopped.
func (r *runner) start(follow func(context.Context) error) error {
	return r.life.Start(func() error {
		r.run(follow)
		return nil
	})
}

func (r *runner) run(follow func(context.Context) error) {
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
	return r.life.Stop(func() error { return r.cancelAndWait(ctx) })
}

func (r *runner) cancelAndWait(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", r.name, ctx.Err())
	}
}
