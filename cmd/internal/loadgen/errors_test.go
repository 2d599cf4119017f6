package loadgen

import (
	"context"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hangUp closes the connection without answering.
var hangUp = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
})

func TestRunClassifiesAnswers(t *testing.T) {
	t.Parallel()
	const n = 20
	tests := []struct {
		name     string
		handler  http.Handler
		timeout  time.Duration
		status   int // expected status count key, 0 for none
		errKind  string
		outcome  string
		answered bool
	}{
		{"allow", fixedAnswer(200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`), 0, 200, "", OutcomeAllow, true},
		{"partial", fixedAnswer(200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["x"]}`), 0, 200, "", OutcomePartial, true},
		{"reject with IM code", fixedAnswer(200, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`), 0, 200, "", OutcomeReject, true},
		{"reject with own code", fixedAnswer(200, `{"ActionStatus":"FAIL","ErrorCode":10101,"ErrorInfo":"no"}`), 0, 200, "", OutcomeReject, true},
		{"server error", fixedAnswer(503, `{"ActionStatus":"OK","ErrorCode":0}`), 0, 503, ErrStatus, OutcomeError, false},
		{"not found", fixedAnswer(404, "nope"), 0, 404, ErrStatus, OutcomeError, false},
		{"garbage", fixedAnswer(200, "<html>hello</html>"), 0, 200, ErrBadBody, OutcomeError, false},
		{"empty body", fixedAnswer(200, ""), 0, 200, ErrBadBody, OutcomeError, false},
		{"json without ActionStatus", fixedAnswer(200, `{"ErrorCode":0}`), 0, 200, ErrBadBody, OutcomeError, false},
		{"unknown ActionStatus", fixedAnswer(200, `{"ActionStatus":"MAYBE","ErrorCode":0}`), 0, 200, ErrBadBody, OutcomeError, false},
		{"json array", fixedAnswer(200, `[1,2]`), 0, 200, ErrBadBody, OutcomeError, false},
		{"hang up", hangUp, 0, 0, ErrConnection, OutcomeError, false},
		{"timeout", blockUntilClientGoes(nil), 50 * time.Millisecond, 0, ErrTimeout, OutcomeError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.handler)
			cfg := b.config(n)
			cfg.Timeout = tt.timeout
			cfg.RecordFile = b.record

			rep, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.EqualValues(t, n, rep.Attempted)
			require.Equal(t, map[string]int64{tt.outcome: n}, rep.Outcomes)
			if tt.answered {
				require.EqualValues(t, n, rep.Answered)
				require.Empty(t, rep.Errors)
				require.EqualValues(t, n, rep.Latency.Count)
			} else {
				require.Zero(t, rep.Answered)
				require.Equal(t, map[string]int64{tt.errKind: n}, rep.Errors)
				require.Zero(t, rep.Latency.Count)
			}
			if tt.status != 0 {
				require.Equal(t, map[int]int64{tt.status: n}, rep.Statuses)
			} else {
				require.Empty(t, rep.Statuses)
			}
			recs := b.records(t)
			require.Len(t, recs, n)
			for _, rec := range recs {
				require.Equal(t, tt.outcome, rec.Outcome)
				require.Equal(t, tt.errKind, rec.ErrorKind)
				require.Equal(t, tt.answered, rec.Answered())
				require.Equal(t, tt.status, rec.Status)
				require.Equal(t, tt.answered, rec.Error == "", rec.Error)
			}
		})
	}
}

func TestRunConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String() + "/im"
	require.NoError(t, ln.Close()) // nothing listens there now

	rep, err := Run(context.Background(), Config{URL: url, Requests: 5, Concurrency: 1})
	require.NoError(t, err)
	require.EqualValues(t, 5, rep.Attempted)
	require.Equal(t, map[string]int64{ErrConnection: 5}, rep.Errors)
}

// A record file that cannot be written stops the run with the write error.
func TestRunRecordWriteFailureStopsRun(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cfg := b.config(0)
	cfg.Duration = time.Minute
	cfg.RecordFile = "/dev/full" // every write fails with ENOSPC

	done := make(chan error, 1)
	var rep *Report
	go func() {
		var err error
		rep, err = Run(context.Background(), cfg)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, syscall.ENOSPC)
		require.ErrorContains(t, err, "record /dev/full")
		require.NotNil(t, rep)
		require.Positive(t, rep.Attempted)
	case <-time.After(30 * time.Second):
		t.Fatal("Run went on after its record file failed")
	}
}
