package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitegate/invitegate/cmd/internal/barehandler"
	"github.com/stretchr/testify/require"
)

func TestRunClosedLoopAgainstBareHandler(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cfg := b.config(300)
	cfg.RecordFile = b.record
	cfg.BannedShare = 0.2
	cfg.MembershipShare = 0.3

	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)

	require.Equal(t, "closed", rep.Mode)
	require.EqualValues(t, 300, rep.Attempted)
	require.EqualValues(t, 300, rep.Answered)
	require.Zero(t, rep.Missed)
	require.Empty(t, rep.Errors)
	require.Equal(t, map[int]int64{200: 300}, rep.Statuses)
	require.EqualValues(t, 300, rep.Latency.Count)
	require.Positive(t, rep.Latency.P50Ms)
	require.LessOrEqual(t, rep.Latency.P50Ms, rep.Latency.P99Ms)
	require.LessOrEqual(t, rep.Latency.P99Ms, rep.Latency.MaxMs)

	recs := b.records(t)
	require.Len(t, recs, 300)
	seen := map[int64]bool{}
	invites := 0
	for _, rec := range recs {
		require.False(t, seen[rec.Seq], "seq %d twice", rec.Seq)
		seen[rec.Seq] = true
		require.Equal(t, "test."+itoa(rec.Seq), rec.Key)
		require.True(t, strings.HasSuffix(rec.GroupID, "."+rec.Key), rec.GroupID)
		require.True(t, strings.HasPrefix(rec.GroupID, "@TGS#"), rec.GroupID)
		require.Less(t, len(rec.GroupID), 48)
		require.Equal(t, DefaultSdkAppID, rec.App)
		require.Equal(t, 200, rec.Status)
		require.True(t, rec.Answered())
		require.NotEmpty(t, rec.Members)
		require.LessOrEqual(t, len(rec.Members), 3)
		require.NotEmpty(t, rec.EventTime)
		if rec.Command == CommandBeforeInviteJoinGroup {
			invites++
			require.Equal(t, OutcomePartial, rec.Outcome) // barehandler refuses the first member
			require.Equal(t, rec.Members[:1], rec.Refused)
		} else {
			require.Equal(t, OutcomeOK, rec.Outcome)
			require.NotEmpty(t, rec.ChangeType)
		}
	}
	require.Len(t, seen, 300)
	require.Equal(t, map[string]int64{OutcomePartial: int64(invites), OutcomeOK: int64(300 - invites)}, rep.Outcomes)
	require.Greater(t, invites, 150)
	require.Less(t, invites, 300)
}

func TestRunOpenLoopFollowsSchedule(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cfg := b.config(100)
	cfg.Rate = 2000
	cfg.RecordFile = b.record

	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, "open", rep.Mode)
	require.EqualValues(t, 100, rep.Attempted)
	require.EqualValues(t, 100, rep.Answered)
	require.Zero(t, rep.Missed)
	// The schedule cannot run early: 100 requests at 2000/s span at least 99/2000 s.
	require.GreaterOrEqual(t, rep.ElapsedSeconds, 99.0/2000)

	recs := b.records(t)
	require.Len(t, recs, 100)
	var first time.Time
	for _, rec := range recs {
		if rec.Seq == 0 {
			first = rec.Intended
		}
	}
	for _, rec := range recs {
		require.Equal(t, time.Duration(rec.Seq)*500*time.Microsecond, rec.Intended.Sub(first), "seq %d", rec.Seq)
		require.False(t, rec.Sent.Before(rec.Intended), "seq %d sent before it was due", rec.Seq)
		require.GreaterOrEqual(t, rec.LatencyUs, rec.ServiceUs)
	}
}

// A stalled server makes the open loop miss its schedule; every scheduled
// request is then either sent or counted as missed.
func TestRunOpenLoopCountsMissed(t *testing.T) {
	t.Parallel()
	b := setup(t, blockUntilClientGoes(nil))
	cfg := b.config(0)
	cfg.Rate = 1000
	cfg.Duration = 100 * time.Millisecond
	cfg.Concurrency = 1
	cfg.Timeout = 200 * time.Millisecond

	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.EqualValues(t, 100, rep.Attempted+rep.Missed)
	require.Positive(t, rep.Missed)
	require.Equal(t, rep.Attempted, rep.Errors[ErrTimeout])
}

func TestRunDurationEndsClosedLoop(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cfg := b.config(0)
	cfg.Duration = 50 * time.Millisecond

	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Positive(t, rep.Attempted)
	require.Equal(t, rep.Attempted, rep.Answered)
	require.GreaterOrEqual(t, rep.ElapsedSeconds, 0.05)
}

func TestRunCancelStopsPromptly(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 100)
	b := setup(t, blockUntilClientGoes(arrived))
	cfg := b.config(0)
	cfg.Duration = time.Hour
	cfg.RecordFile = b.record

	ctx, cancel := context.WithCancel(context.Background())
	type outcome struct {
		rep *Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rep, err := Run(ctx, cfg)
		done <- outcome{rep, err}
	}()
	<-arrived
	cancel()
	var got outcome
	select {
	case got = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of the cancel")
	}
	require.ErrorIs(t, got.err, context.Canceled)
	require.True(t, got.rep.Interrupted)
	require.Positive(t, got.rep.Attempted)
	require.Equal(t, got.rep.Attempted, got.rep.Errors[ErrCanceled])
	require.Zero(t, got.rep.Answered)
	for _, rec := range b.records(t) {
		require.Equal(t, ErrCanceled, rec.ErrorKind)
		require.False(t, rec.Answered())
	}
}

func TestRunZipfHotOperatorDominates(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cfg := b.config(2000)
	cfg.Operators = 1000
	cfg.RecordFile = b.record

	_, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	counts := map[string]int{}
	for _, rec := range b.records(t) {
		counts[rec.Operator]++
	}
	top, second := counts["user-0"], counts["user-1"]
	for op, n := range counts {
		require.LessOrEqual(t, n, top, "operator %s is more frequent than user-0", op)
	}
	// P(1)/P(2) = 2^1.1 = 2.14 and P(1) ≈ 0.14 for 1000 operators at s = 1.1.
	require.Greater(t, float64(top), 1.5*float64(second))
	require.Greater(t, top, 2000/10)
}

func TestRunBadConfig(t *testing.T) {
	t.Parallel()
	rep, err := Run(context.Background(), Config{URL: "ftp://x"})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Nil(t, rep)

	rep, err = Run(context.Background(), Config{URL: "http://127.0.0.1:1/im", RecordFile: t.TempDir() + "/no/such/dir/rec"})
	require.ErrorContains(t, err, "create record file")
	require.Nil(t, rep)
}

// A comma-separated URL spreads the requests round-robin over the targets.
func TestRunSpreadsOverTargets(t *testing.T) {
	t.Parallel()
	var hits [2]atomic.Int64
	urls := make([]string, 2)
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			barehandler.New().ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		urls[i] = srv.URL + "/im"
	}
	cfg := Config{URL: urls[0] + ", " + urls[1], Requests: 100, Concurrency: 4, RunID: "spread"}
	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.EqualValues(t, 100, rep.Answered)
	require.EqualValues(t, 50, hits[0].Load())
	require.EqualValues(t, 50, hits[1].Load())
}
