package policystore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AttemptTimeout bounds one JetStream request of a Log. While a stream or
// the cluster elects a leader (a server died), a request sent to the old
// one goes unanswered; the same request sent after the election is
// answered at once. So a Log sends an unanswered request again every
// AttemptTimeout rather than waiting out its whole context.
const AttemptTimeout = 2 * time.Second

// retryPause is the pause before sending again a request refused at once
// (no responders, no leader yet).
const retryPause = 100 * time.Millisecond

// Retry runs fn, each attempt bounded by AttemptTimeout, until it succeeds,
// fails for a reason other than an unanswered or leaderless request (see
// Unanswered), or ctx ends. fn must be safe to run again: a publish
// carries the same Nats-Msg-Id on every attempt, a lookup changes nothing.
func Retry(ctx context.Context, fn func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
		err := fn(actx)
		cancel()
		if err == nil || !Unanswered(err) {
			return err
		}
		if ctx.Err() != nil {
			if errors.Is(err, ctx.Err()) {
				return err
			}
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			continue // the attempt's timeout was the pause
		}
		t := time.NewTimer(retryPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// Unanswered reports whether err is a JetStream request that went
// unanswered or found no leader: sent again a moment later, the same
// request can succeed.
func Unanswered(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
		return true
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return false
	case errors.As(err, &apiErr):
		return apiErr.Code == http.StatusServiceUnavailable // "JetStream system temporarily unavailable"
	}
	return false
}
