package ingress

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop/startstoptest"
)

// startServer starts a Server for b on free ports and stops it at cleanup.
func startServer(t *testing.T, b *bundle) *Server {
	t.Helper()
	srv, err := NewServer(b.cfg, b.h)
	require.NoError(t, err)
	require.NoError(t, srv.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, srv.Stop(context.Background())) })
	return srv
}

// client returns an HTTP client with its own connections.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}

func callbackURL(srv *Server) string {
	return "http://" + srv.Addr().String() + "/callback?" + inviteQuery().Encode()
}

func TestServerReadyz(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.h.engine = decider.NewEngine(decider.FailOpen, nil) // nothing loaded yet
	srv := startServer(t, b)
	c := client(t)
	admin := "http://" + srv.AdminAddr().String()

	status, body, h := get(t, c, admin+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, `{"ready":false,"reason":"no policy snapshot loaded","callback_auth":"off"}`, body)
	require.Equal(t, "application/json", h.Get("Content-Type"))

	loadPolicy(t, b.h.engine, testPolicy, 42)
	status, body, _ = get(t, c, admin+"/readyz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, `{"ready":true,"policy_revision":42,"callback_auth":"off"}`, body)

	status, body, _ = get(t, c, admin+"/healthz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, `{"alive":true}`, body)

	signed := startServer(t, setup(t, func(c *Config) { c.CallbackToken = "t" }))
	status, body, _ = get(t, c, "http://"+signed.AdminAddr().String()+"/readyz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, `{"ready":true,"policy_revision":7,"callback_auth":"on"}`, body)
}

// A field added by the process (invitegate run's analytics state) is
// read at every answer.
func TestServerReadyzField(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, err := NewServer(b.cfg, b.h)
	require.NoError(t, err)
	var state atomic.Value
	state.Store("paused")
	srv.AddReadyField("analytics", func() string { return state.Load().(string) })
	require.NoError(t, srv.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, srv.Stop(context.Background())) })
	c := client(t)
	admin := "http://" + srv.AdminAddr().String()

	loadPolicy(t, b.h.engine, testPolicy, 7)
	status, body, _ := get(t, c, admin+"/readyz")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"ready":true,"policy_revision":7,"analytics":"paused"}`, body)
	state.Store("running")
	_, body, _ = get(t, c, admin+"/readyz")
	require.JSONEq(t, `{"ready":true,"policy_revision":7,"analytics":"running"}`, body)
}

func TestServerMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, b)
	c := client(t)
	resp, err := c.Post(callbackURL(srv), "", strings.NewReader(seedSample))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// The answer is flushed before the handler counts it: poll the metrics
	// until the callback is counted.
	want := []string{
		`invitegate_callbacks_total{command="Group.CallbackBeforeInviteJoinGroup",outcome="allow"} 1`,
		`invitegate_callback_duration_seconds_count 1`,
		`invitegate_decision_duration_seconds_count 1`,
		`invitegate_rule_matches_total{mode="shadow",rule="no-self-invite"} 1`,
		`invitegate_rule_errors_total{rule="numeric-group"} 1`,
		`invitegate_callback_errors_total{reason="bad_sign"} 0`,
		`invitegate_policy_revision 7`,
		`invitegate_policy_loaded 1`,
	}
	var body string
	require.Eventually(t, func() bool {
		status, b, _ := get(t, c, "http://"+srv.AdminAddr().String()+"/metrics")
		require.Equal(t, http.StatusOK, status)
		body = b
		return strings.Contains(body, want[1]+"\n")
	}, 10*time.Second, 5*time.Millisecond)
	for _, line := range want {
		require.Contains(t, body, line+"\n")
	}
}

func TestServerRoutesAndKeepAlive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, b)
	c := client(t)

	resp, err := c.Post("http://"+srv.Addr().String()+"/other?"+inviteQuery().Encode(), "", strings.NewReader(seedSample))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"no callback at \"/other\": IM must post to \"/callback\""}`, string(body))

	// Every answer reuses the connection: keep-alive is on.
	reused := 0
	for range 3 {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reused++
			}
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodPost, callbackURL(srv), strings.NewReader(seedSample))
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, okAnswer, string(body))
		require.Empty(t, resp.TransferEncoding, "Content-Length is set, the answer is not chunked")
	}
	require.Equal(t, 3, reused)
}

// TestServerStopFinishesInFlight holds a request in the handler (its event
// hand-over blocks, as a sync sink's does until the event is durable) while
// Stop runs: its answer waits for the hand-over, Stop refuses new
// connections and returns only once the handler has answered.
func TestServerStopFinishesInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.sink.hold, b.sink.entered = make(chan struct{}), make(chan struct{}, 1)
	srv, err := NewServer(b.cfg, b.h)
	require.NoError(t, err)
	require.NoError(t, srv.Start(t.Context()))
	c := client(t)

	answered := make(chan string, 1)
	go func() {
		resp, err := c.Post(callbackURL(srv), "", strings.NewReader(seedSample))
		if err != nil {
			answered <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- string(body)
	}()
	<-b.sink.entered
	select {
	case a := <-answered:
		t.Fatalf("answered (%s) before the sink took the event", a)
	default:
	}

	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(context.Background()) }()
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", srv.Addr().String())
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, 5*time.Second, time.Millisecond, "Stop closes the listener")
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with a request in flight", err)
	default:
	}
	close(b.sink.hold)
	require.Equal(t, okAnswer, <-answered, "answered once the sink took the event")
	require.NoError(t, <-stopped)
	require.Len(t, b.sink.all(), 1)
	require.NoError(t, srv.Stop(context.Background()), "Stop is idempotent")
	require.ErrorIs(t, srv.Start(t.Context()), ErrStopped)
}

func TestServerStopDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.sink.hold, b.sink.entered = make(chan struct{}), make(chan struct{}, 1)
	t.Cleanup(func() { close(b.sink.hold) })
	srv, err := NewServer(b.cfg, b.h)
	require.NoError(t, err)
	require.NoError(t, srv.Start(t.Context()))
	go func() {
		resp, err := client(t).Post(callbackURL(srv), "", strings.NewReader(seedSample))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-b.sink.entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, srv.Stop(ctx), context.DeadlineExceeded)
}

func TestServerLifecycleEdges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, err := NewServer(b.cfg, b.h)
	require.NoError(t, err)
	require.Nil(t, srv.Addr())
	require.NoError(t, srv.Stop(context.Background()), "stop before start")
	require.ErrorIs(t, srv.Start(t.Context()), ErrStopped)

	running := startServer(t, setup(t))
	require.NoError(t, running.Start(t.Context()), "a second Start is a no-op")

	for _, cfg := range []Config{
		{SdkAppID: testApp, HTTPAddr: running.Addr().String(), AdminAddr: "127.0.0.1:0"},
		{SdkAppID: testApp, HTTPAddr: "127.0.0.1:0", AdminAddr: running.AdminAddr().String()},
	} {
		srv, err := NewServer(cfg, b.h)
		require.NoError(t, err)
		err = srv.Start(t.Context())
		require.ErrorContains(t, err, "ingress: listen on 127.0.0.1:")
		require.ErrorContains(t, err, "address already in use")
		require.Nil(t, srv.Addr())
		require.NoError(t, srv.Stop(context.Background()))
	}
}

func TestServerStartStop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component {
		srv, err := NewServer(b.cfg, b.h)
		require.NoError(t, err)
		return srv
	})
}

func TestServerHardened(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, err := NewServer(b.cfg, b.h)
	require.NoError(t, err)
	for _, hs := range srv.servers {
		require.Equal(t, DefaultReadHeaderTimeout, hs.ReadHeaderTimeout)
		require.Equal(t, DefaultReadTimeout, hs.ReadTimeout)
		require.Equal(t, DefaultWriteTimeout, hs.WriteTimeout)
		require.Equal(t, DefaultIdleTimeout, hs.IdleTimeout)
		require.Equal(t, DefaultMaxHeaderBytes, hs.MaxHeaderBytes)
	}
}

func TestServerPprofOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		b := setup(t, func(c *Config) { c.Pprof = on })
		srv := startServer(t, b)
		status, body, _ := get(t, client(t), "http://"+srv.AdminAddr().String()+"/debug/pprof/goroutine?debug=1")
		if !on {
			require.Equal(t, http.StatusNotFound, status)
			continue
		}
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, "goroutine profile:")
	}
}
