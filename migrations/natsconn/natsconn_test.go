package natsconn

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

type bundle struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// setup starts an embedded in-process server on a temp store and connects.
func setup(t *testing.T, emb EmbeddedConfig) bundle {
	t.Helper()
	if emb.StoreDir == "" {
		emb.StoreDir = t.TempDir()
	}
	srv, err := StartEmbedded(emb, discard())
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := Connect(t.Context(), Config{Embedded: emb}, srv, discard())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return bundle{srv: srv, nc: nc, js: js}
}

func TestEnsureEventStreamCreatesAndUpdatesWhatDiffers(t *testing.T) {
	t.Parallel()
	b := setup(t, EmbeddedConfig{SyncAlways: true})
	ctx := t.Context()

	s1, err := EnsureEventStream(ctx, b.js, EventStreamConfig{})
	require.NoError(t, err)
	info1, err := s1.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, decider.EventStream, info1.Config.Name)
	require.Equal(t, []string{decider.EventSubjects}, info1.Config.Subjects)
	require.Equal(t, jetstream.FileStorage, info1.Config.Storage)
	require.Equal(t, jetstream.DiscardNew, info1.Config.Discard)
	require.Equal(t, DefaultMaxAge, info1.Config.MaxAge)
	require.Equal(t, DefaultDuplicates, info1.Config.Duplicates)
	require.Equal(t, 1, info1.Config.Replicas)

	_, err = b.js.Publish(ctx, decider.EventSubject("app", decider.KindInvite), []byte("{}\n"))
	require.NoError(t, err)

	s2, err := EnsureEventStream(ctx, b.js, EventStreamConfig{})
	require.NoError(t, err)
	info2, err := s2.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, info1.Created, info2.Created)
	require.Equal(t, info1.Config, info2.Config)
	require.EqualValues(t, 1, info2.State.Msgs, "ensuring again keeps the messages")

	// With --no-migrate a service uses what exists as it is.
	changed := EventStreamConfig{MaxAge: 48 * time.Hour, Duplicates: time.Minute, MaxBytes: 1 << 30, Provision: ProvisionNever}
	s3, err := EnsureEventStream(ctx, b.js, changed)
	require.NoError(t, err)
	info3, err := s3.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, info1.Config, info3.Config, "looked up, not updated")

	changed.Provision = ProvisionMissing
	s3, err = EnsureEventStream(ctx, b.js, changed)
	require.NoError(t, err)
	info3, err = s3.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, info3.Config.MaxAge)
	require.Equal(t, time.Minute, info3.Config.Duplicates)
	require.EqualValues(t, 1<<30, info3.Config.MaxBytes)
	require.EqualValues(t, 1, info3.State.Msgs)
}

func TestEnsureEventStreamRejectsBadConfig(t *testing.T) {
	t.Parallel()
	b := setup(t, EmbeddedConfig{})
	_, err := EnsureEventStream(t.Context(), b.js, EventStreamConfig{Replicas: 7})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = b.js.Stream(t.Context(), decider.EventStream)
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound, "nothing created on a bad config")
}

func TestEventStreamConfigValidate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		cfg  EventStreamConfig
		want string
	}{
		"replicas":         {EventStreamConfig{Replicas: 6}, "stream replicas 6 not in 1..5"},
		"negative age":     {EventStreamConfig{MaxAge: -time.Second}, "stream max age -1s is negative"},
		"negative dups":    {EventStreamConfig{Duplicates: -time.Second}, "stream duplicate window -1s is negative"},
		"dups beyond age":  {EventStreamConfig{MaxAge: time.Minute, Duplicates: time.Hour}, "stream duplicate window 1h0m0s exceeds max age 1m0s"},
		"negative maxbyte": {EventStreamConfig{MaxBytes: -1}, "stream max bytes -1 is negative"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.NoError(t, EventStreamConfig{}.Validate())
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"creds without url": {Config{CredsFile: "x.creds"}, `creds file "x.creds" given without a URL`},
		"tls without url":   {Config{TLSCA: "ca.pem"}, `tls ca "ca.pem" given without a URL`},
		"listen with url":   {Config{URL: "nats://h:4222", Embedded: EmbeddedConfig{ListenAddr: "127.0.0.1:0"}}, "embedded listen address"},
		"empty url entry":   {Config{URL: "nats://a:1,,nats://b:2"}, "has an empty entry"},
		"creds and nkey":    {Config{URL: "nats://h:1", CredsFile: "a", NKeyFile: "b"}, "creds file and nkey file are exclusive"},
		"cert without key":  {Config{URL: "nats://h:1", TLSCert: "c.pem"}, "tls cert and tls key go together"},
		"missing creds":     {Config{URL: "nats://h:1", CredsFile: dir + "/none.creds"}, "creds file: stat"},
		"bad listen addr":   {Config{Embedded: EmbeddedConfig{ListenAddr: "localhost"}}, `embedded listen address "localhost"`},
		"bad listen port":   {Config{Embedded: EmbeddedConfig{ListenAddr: "127.0.0.1:http"}}, `bad port "http"`},
		"negative wait":     {Config{ReconnectWait: -time.Second}, "reconnect wait -1s is negative"},
		"negative ping":     {Config{PingInterval: -time.Second}, "ping interval -1s is negative"},
		"negative buffer":   {Config{ReconnectBufSize: -1}, "reconnect buffer size -1 is negative"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.withDefaults().validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
			_, err = Connect(t.Context(), tc.cfg, nil, discard())
			require.ErrorIs(t, err, ErrInvalidConfig, "Connect validates too")
		})
	}
	require.NoError(t, Config{}.withDefaults().validate())
	require.NoError(t, Config{URL: "nats://a:1, nats://b:2"}.withDefaults().validate())
}

func TestStartEmbeddedRejectsBadListenAddr(t *testing.T) {
	t.Parallel()
	_, err := StartEmbedded(EmbeddedConfig{StoreDir: t.TempDir(), ListenAddr: "127.0.0.1:99999"}, nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, `bad port "99999"`)
}

func TestConnectWithoutURLOrServer(t *testing.T) {
	t.Parallel()
	_, err := Connect(t.Context(), Config{}, nil, discard())
	require.ErrorIs(t, err, ErrInvalidConfig)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Connect(ctx, Config{URL: "nats://127.0.0.1:1"}, nil, discard())
	require.ErrorIs(t, err, context.Canceled)
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// A URL that does not answer yet: Connect returns a connection that keeps
// retrying, and it connects once a server appears there.
func TestConnectRetriesUntilServerAppears(t *testing.T) {
	t.Parallel()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	nc, err := Connect(t.Context(), Config{URL: "nats://" + addr, ReconnectWait: 20 * time.Millisecond}, nil, discard())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	require.False(t, nc.IsConnected())

	srv, err := StartEmbedded(EmbeddedConfig{StoreDir: t.TempDir(), ListenAddr: addr}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.Eventually(t, nc.IsConnected, 10*time.Second, 10*time.Millisecond)

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = EnsureEventStream(t.Context(), js, EventStreamConfig{})
	require.NoError(t, err)
	require.NoError(t, Close(t.Context(), nc))
	require.True(t, nc.IsClosed())
}

// TestConnectLeavesAFrozenServer: a server that stops answering (here a
// proxy that stops forwarding, as a SIGSTOPped server or a cut link would)
// is left after two unanswered pings, and the client reconnects.
func TestConnectLeavesAFrozenServer(t *testing.T) {
	t.Parallel()
	srv, err := StartEmbedded(EmbeddedConfig{StoreDir: t.TempDir(), ListenAddr: "127.0.0.1:0"}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	frozen := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				_ = c.Close()
				continue
			}
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if err != nil {
						return
					}
					select {
					case <-frozen:
						continue // read and dropped: the other side hears nothing
					default:
					}
					if _, err := dst.Write(buf[:n]); err != nil {
						return
					}
				}
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	disconnected := make(chan struct{}, 1)
	nc, err := Connect(t.Context(), Config{URL: "nats://" + ln.Addr().String(), PingInterval: 50 * time.Millisecond}, nil, discard())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	nc.SetDisconnectErrHandler(func(*nats.Conn, error) { disconnected <- struct{}{} })
	require.Eventually(t, nc.IsConnected, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 50*time.Millisecond, nc.Opts.PingInterval)
	require.Equal(t, 2, nc.Opts.MaxPingsOut)
	close(frozen)
	select {
	case <-disconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("the client still holds a connection to a server that stopped answering")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEmbeddedServerLogsGoToSlog(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := StartEmbedded(EmbeddedConfig{StoreDir: t.TempDir()}, logger)
	require.NoError(t, err)
	srv.Shutdown()
	srv.WaitForShutdown()
	require.Contains(t, buf.String(), "component=nats-server")
	require.Contains(t, buf.String(), "Server is ready")
}

func TestCloseWhileNotConnectedAndTwice(t *testing.T) {
	t.Parallel()
	nc, err := Connect(t.Context(), Config{URL: "nats://127.0.0.1:" + strconv.Itoa(freePort(t))}, nil, discard())
	require.NoError(t, err)
	require.NoError(t, Close(t.Context(), nc))
	require.True(t, nc.IsClosed())
	require.NoError(t, Close(t.Context(), nc), "closing again is a no-op")
}
