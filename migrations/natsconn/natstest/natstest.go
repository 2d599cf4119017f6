package natstest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/natsconn"
)

// Start starts an embedded server with its store in a fresh temporary
// directory, shut down at cleanup. listen is its TCP address, "" for none
// (in-process only) or "127.0.0.1:0" for a random port.
func Start(t testing.TB, listen string) *server.Server {
	t.Helper()
	srv, err := natsconn.StartEmbedded(natsconn.EmbeddedConfig{StoreDir: t.TempDir(), ListenAddr: listen}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// Connect connects to srv in-process, as natsconn.Connect does for the
// binary, and returns the connection (closed at cleanup) and its JetStream.
func Connect(t testing.TB, srv *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := natsconn.Connect(context.Background(), natsconn.Config{}, srv, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// Dial connects to the server at url over TCP (a client of its own, as
// each ingress replica has) and returns the connection (closed at cleanup)
// and its JetStream.
func Dial(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := natsconn.Connect(context.Background(), natsconn.Config{URL: url}, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}
