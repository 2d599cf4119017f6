package faults_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress"
)

// startIngress serves the real ingress (example policy, events off) on
// 127.0.0.1:0 with short read timeouts, and returns its callback URL.
func startIngress(t *testing.T) (callback, addr string) {
	t.Helper()
	data, err := os.ReadFile(policyFile(t))
	require.NoError(t, err)
	doc, err := decider.ParseDocument(data)
	require.NoError(t, err)
	snap, err := decider.Compile(doc, 1)
	require.NoError(t, err)
	eng := decider.NewEngine(decider.FailOpen, nil)
	eng.Load(snap)
	cfg := ingress.Config{SdkAppID: app, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond}
	h, err := ingress.NewHandler(cfg, ingress.Deps{Engine: eng, Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv, err := ingress.NewServer(cfg, h)
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, srv.Stop(context.Background())) })
	return "http://" + srv.Addr().String() + "/callback", srv.Addr().String()
}

func TestFuzzedBodiesGetDocumentedAnswers(t *testing.T) {
	t.Parallel()
	callback, _ := startIngress(t)
	rep := faults.RunFuzz(context.Background(), faults.FuzzConfig{URL: callback, App: app, N: 3000, Workers: 4, Seed: 1})
	t.Logf("statuses: %v", rep.ByStatus)
	require.Equal(t, int64(3000), rep.Sent)
	require.Zero(t, rep.Failures, "%q", rep.Examples)
	require.Equal(t, int64(3000), rep.Documented)
	// The mix reaches every documented answer.
	for _, s := range []int{http.StatusOK, http.StatusBadRequest, http.StatusForbidden} {
		require.Positive(t, rep.ByStatus[s], "status %d in %v", s, rep.ByStatus)
	}
}

// TestWorstCaseBodiesGetDocumentedAnswers: every worst-case body at the
// default --max-body-bytes gets its documented status within IM's 2 s.
func TestWorstCaseBodiesGetDocumentedAnswers(t *testing.T) {
	t.Parallel()
	callback, _ := startIngress(t)
	rep := faults.RunWorstCase(context.Background(), callback, app, ingress.DefaultMaxBodyBytes, 1)
	t.Logf("slowest: %s (%s)", rep.Slowest, rep.SlowestBody)
	require.Empty(t, rep.Failures)
	require.Equal(t, rep.Sent, rep.Documented)
	require.Positive(t, rep.Sent)
}

func TestFuzzerIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := faults.NewFuzzer(app, 7), faults.NewFuzzer(app, 7)
	for range 200 {
		require.Equal(t, a.Next(), b.Next())
	}
}

func TestClassifyAnswerRefusesUndocumentedAnswers(t *testing.T) {
	t.Parallel()
	invite := faults.FuzzCase{App: app, Command: "Group.CallbackBeforeInviteJoinGroup"}
	join := faults.FuzzCase{App: app, Command: "Group.CallbackAfterNewMemberJoin"}
	for _, tc := range []struct {
		name   string
		c      faults.FuzzCase
		status int
		body   string
		want   string // "" or a part of the complaint
	}{
		{"allow", invite, 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, ""},
		{"custom reject", invite, 200, `{"ActionStatus":"OK","ErrorCode":10101,"ErrorInfo":"no"}`, ""},
		{"bad body", invite, 400, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"malformed"}`, ""},
		{"too large", invite, 413, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"large"}`, ""},
		{"server error", invite, 500, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"x"}`, "status 500"},
		{"not json", invite, 200, `oops`, "not JSON"},
		{"code out of range", invite, 200, `{"ActionStatus":"OK","ErrorCode":7,"ErrorInfo":""}`, "want OK with 0"},
		{"fail without info", invite, 400, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":""}`, "want FAIL/1"},
		{"missing field", invite, 200, `{"ActionStatus":"OK","ErrorCode":0}`, "lacks"},
		{"membership ok", join, 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, ""},
		{"membership refused", join, 400, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"x"}`, "want 200 OK/0"},
		{"wrong app", faults.FuzzCase{App: "1", Command: invite.Command}, 403, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"app"}`, ""},
		{"wrong app answered", faults.FuzzCase{App: "1", Command: invite.Command}, 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, "status in [403]"},
		{"no command", faults.FuzzCase{App: app}, 400, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"cmd"}`, ""},
	} {
		got := faults.ClassifyAnswer(app, tc.c, tc.status, []byte(tc.body))
		if tc.want == "" {
			require.Empty(t, got, tc.name)
		} else {
			require.Contains(t, got, tc.want, tc.name)
		}
	}
}

func TestOversizedBodiesAre413(t *testing.T) {
	t.Parallel()
	callback, _ := startIngress(t)
	for _, chunked := range []bool{false, true} {
		status, body, err := faults.Oversized(context.Background(), callback, app, 2<<20, chunked)
		require.NoError(t, err, "chunked=%v", chunked)
		require.Equal(t, http.StatusRequestEntityTooLarge, status, "chunked=%v: %s", chunked, body)
		require.Empty(t, faults.ClassifyAnswer(app, faults.FuzzCase{App: app, Command: "Group.CallbackBeforeInviteJoinGroup"}, status, body))
	}
}

func TestSlowClientsAreCutAtTheReadTimeouts(t *testing.T) {
	t.Parallel()
	_, addr := startIngress(t)
	ctx := context.Background()
	res, err := faults.Slowloris(ctx, addr, "/callback", 50*time.Millisecond, 5*time.Second)
	require.NoError(t, err)
	require.Less(t, res.Elapsed, 2*time.Second, "ReadHeaderTimeout is 300ms")
	require.Empty(t, res.Answer, "a header timeout closes without an answer")

	res, err = faults.SlowBody(ctx, addr, "/callback", app, 50*time.Millisecond, 5*time.Second)
	require.NoError(t, err)
	require.Less(t, res.Elapsed, 2*time.Second, "ReadTimeout is 500ms")
	if len(res.Answer) > 0 { // the handler saw the body read fail: a documented 400
		require.True(t, strings.HasPrefix(string(res.Answer), "HTTP/1.1 400"), "%s", res.Answer)
		require.Contains(t, string(res.Answer), `"ActionStatus":"FAIL"`)
	}
}

func TestSlowlorisReportsAServerThatWaitsForever(t *testing.T) {
	t.Parallel()
	srv := &http.Server{Handler: http.NotFoundHandler()} // no ReadHeaderTimeout
	callback, addr := serve(t, srv)
	_ = callback
	_, err := faults.Slowloris(context.Background(), addr, "/", 20*time.Millisecond, 300*time.Millisecond)
	require.ErrorContains(t, err, "kept a slow connection open")
}

func TestHugeHeadersAre431(t *testing.T) {
	t.Parallel()
	callback, _ := startIngress(t)
	status, err := faults.HugeHeader(context.Background(), callback, app, 128<<10)
	require.NoError(t, err)
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, status)
}
