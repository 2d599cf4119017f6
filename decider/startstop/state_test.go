package startstop_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/invitegate/invitegate/decider/startstop"
	"github.com/invitegate/invitegate/decider/startstop/startstoptest"
)

// loop is the smallest component: one goroutine, stopped by a channel.
type loop struct {
	life    startstop.State
	quit    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	starts  int
	stops   int
	failing bool
}

func (l *loop) Start(context.Context) error {
	return l.life.Start(func() error {
		if l.failing {
			return errors.New("start refused")
		}
		l.quit, l.done = make(chan struct{}), make(chan struct{})
		go func() { defer close(l.done); <-l.quit }()
		l.mu.Lock()
		l.starts++
		l.mu.Unlock()
		return nil
	})
}

func (l *loop) Stop(ctx context.Context) error {
	return l.life.Stop(func() error {
		close(l.quit)
		l.mu.Lock()
		l.stops++
		l.mu.Unlock()
		select {
		case <-l.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

func TestStress(t *testing.T) {
	t.Parallel()
	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component {
		l := &loop{}
		t.Cleanup(func() {
			if l.starts > 1 || l.stops != l.starts {
				t.Errorf("started %d times, stopped %d times: want at most once and as often", l.starts, l.stops)
			}
		})
		return l
	})
}

// TestStartFailureLeavesNew: a Start that fails may be tried again.
func TestStartFailureLeavesNew(t *testing.T) {
	t.Parallel()
	l := &loop{failing: true}
	if err := l.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded, want its error")
	}
	l.failing = false
	if err := l.Start(context.Background()); err != nil {
		t.Fatalf("Start after a failed Start: %v", err)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.stops != 1 {
		t.Fatalf("stopped %d times, want 1", l.stops)
	}
}

// TestStopAny runs the stop function once, before or after Start.
func TestStopAny(t *testing.T) {
	t.Parallel()
	var s startstop.State
	var calls []bool
	stop := func(started bool) error { calls = append(calls, started); return nil }
	if err := s.StopAny(stop); err != nil {
		t.Fatal(err)
	}
	if err := s.StopAny(stop); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0] {
		t.Fatalf("calls = %v, want [false]", calls)
	}
	if err := s.Start(func() error { return nil }); !errors.Is(err, startstop.ErrStopped) {
		t.Fatalf("Start after Stop = %v", err)
	}
}
