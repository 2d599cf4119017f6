package policystore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
	"github.com/invitegate/invitegate/migrations/policystore"
)

const app = "1400000000"

func listAdded(id string) *decider.Change {
	return &decider.Change{Kind: decider.ChangeListAdded, List: "banned", IDs: []string{id}, Author: "test"}
}

// next reads one record within a few seconds.
func next(t *testing.T, rd *policystore.Reader) policystore.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, _, err := rd.Next(ctx)
	require.NoError(t, err)
	return rec
}

// TestReaderReadsOnAfterTheServerRestarts: the server a reader's consumer
// lives on goes away and comes back; the reader replaces its consumer on
// reconnect and returns the next events in order, each once.
func TestReaderReadsOnAfterTheServerRestarts(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	srv, err := natsconn.StartEmbedded(natsconn.EmbeddedConfig{StoreDir: store, ListenAddr: "127.0.0.1:0"}, nil)
	require.NoError(t, err)
	addr := srv.Addr().(*net.TCPAddr).String()
	t.Cleanup(func() { srv.Shutdown() })
	_, js := natstest.Dial(t, "nats://"+addr)
	ctx := context.Background()
	log, err := policystore.OpenLog(ctx, js, app, natsconn.PolicyStreamConfig{})
	require.NoError(t, err)
	for i := range 3 {
		_, err := log.Publish(ctx, listAdded(fmt.Sprint("a", i)))
		require.NoError(t, err)
	}
	rd, err := log.Reader(ctx, 2)
	require.NoError(t, err)
	defer rd.Stop()
	require.Equal(t, uint64(2), next(t, rd).Seq)
	require.Equal(t, uint64(3), next(t, rd).Seq)

	srv.Shutdown()
	srv.WaitForShutdown()
	srv2, err := natsconn.StartEmbedded(natsconn.EmbeddedConfig{StoreDir: store, ListenAddr: addr}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { srv2.Shutdown(); srv2.WaitForShutdown() })
	_, js2 := natstest.Dial(t, "nats://"+addr)
	log2, err := policystore.OpenLog(ctx, js2, app, natsconn.PolicyStreamConfig{})
	require.NoError(t, err)
	for i := range 2 {
		_, err := log2.Publish(ctx, listAdded(fmt.Sprint("b", i)))
		require.NoError(t, err)
	}
	require.Equal(t, uint64(4), next(t, rd).Seq)
	rec := next(t, rd)
	require.Equal(t, uint64(5), rec.Seq)
	require.Equal(t, decider.ChangeListAdded, rec.Kind)
}

// TestReaderIsUsableAfterNextTimesOut: a Next whose context ends returns
// its error and leaves the reader as it was.
func TestReaderIsUsableAfterNextTimesOut(t *testing.T) {
	t.Parallel()
	_, js := natstest.Connect(t, natstest.Start(t, ""))
	ctx := context.Background()
	log, err := policystore.OpenLog(ctx, js, app, natsconn.PolicyStreamConfig{})
	require.NoError(t, err)
	rd, err := log.Reader(ctx, 0)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, err = rd.Next(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	seq, err := log.Publish(ctx, listAdded("x"))
	require.NoError(t, err)
	require.Equal(t, seq, next(t, rd).Seq)

	rd.Stop()
	rd.Stop()
	_, _, err = rd.Next(ctx)
	require.ErrorIs(t, err, policystore.ErrReaderStopped)
}

// TestRetrySendsAgainOnlyWhatWentUnanswered: unanswered or leaderless
// requests are sent again until they succeed or the context ends; other
// errors return at once.
func TestRetrySendsAgainOnlyWhatWentUnanswered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, err := range []error{nats.ErrNoResponders, nats.ErrTimeout, jetstream.ErrNoStreamResponse,
		&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"},
		fmt.Errorf("stream info: %w", context.DeadlineExceeded)} {
		calls := 0
		require.NoError(t, policystore.Retry(ctx, func(context.Context) error {
			if calls++; calls < 3 {
				return err
			}
			return nil
		}), "%v", err)
		require.Equal(t, 3, calls, "%v", err)
		require.True(t, policystore.Unanswered(err), "%v", err)
	}
	for _, err := range []error{jetstream.ErrStreamNotFound, jetstream.ErrJetStreamNotEnabled, errors.New("bad")} {
		calls := 0
		require.ErrorIs(t, policystore.Retry(ctx, func(context.Context) error { calls++; return err }), err)
		require.Equal(t, 1, calls, "%v", err)
		require.False(t, policystore.Unanswered(err), "%v", err)
	}
	// An attempt is bounded by AttemptTimeout; the whole by ctx.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := policystore.Retry(short, func(ctx context.Context) error { return nats.ErrNoResponders })
	require.ErrorIs(t, err, nats.ErrNoResponders)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), policystore.AttemptTimeout)
}
