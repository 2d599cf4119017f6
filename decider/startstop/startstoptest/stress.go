package startstoptest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider/startstop"
)

// Component is a component that owns goroutines.
type Component interface {
	Start(context.Context) error
	Stop(context.Context) error
}

// stopTimeout bounds every Stop: a component that does not stop within it
// fails the test.
const stopTimeout = 30 * time.Second

// Stress checks the lifecycle contract on fresh components made by
// newComponent (one per subtest; newComponent registers its own cleanup):
// Stop before Start, Start and Stop twice, Start after Stop, and Start and
// Stop called from many goroutines at once. Start after Stop must return an
// error matching startstop.ErrStopped.
func Stress(t *testing.T, newComponent func(t *testing.T) Component) {
	t.Helper()
	t.Run("stop-before-start", func(t *testing.T) {
		t.Parallel()
		c := newComponent(t)
		stop(t, c)
		stop(t, c)
		startStopped(t, c)
	})
	t.Run("start-twice-stop-twice", func(t *testing.T) {
		t.Parallel()
		c := newComponent(t)
		start(t, c)
		start(t, c)
		stop(t, c)
		stop(t, c)
		startStopped(t, c)
	})
	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		c := newComponent(t)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for i := range 16 {
			wg.Go(func() {
				if i%2 == 0 {
					if err := c.Start(context.Background()); err != nil && !errors.Is(err, startstop.ErrStopped) {
						errs <- err
					}
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
				defer cancel()
				if err := c.Stop(ctx); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Start and Stop: %v", err)
		}
		stop(t, c)
		startStopped(t, c)
	})
}

func start(t *testing.T, c Component) {
	t.Helper()
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func stop(t *testing.T, c Component) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func startStopped(t *testing.T, c Component) {
	t.Helper()
	if err := c.Start(context.Background()); !errors.Is(err, startstop.ErrStopped) {
		t.Fatalf("Start after Stop = %v, want an error matching startstop.ErrStopped", err)
	}
}
