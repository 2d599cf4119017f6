package natsconn

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

func TestModuleEmbedded(t *testing.T) {
	t.Parallel()
	var (
		srv *server.Server
		nc  *nats.Conn
		js  jetstream.JetStream
	)
	app := fxtest.New(t,
		Module,
		fx.Supply(Config{Embedded: EmbeddedConfig{StoreDir: t.TempDir()}}, discard()),
		fx.Populate(&srv, &nc, &js),
	)
	app.RequireStart()
	require.NotNil(t, srv)
	require.True(t, nc.IsConnected())
	_, err := EnsureEventStream(t.Context(), js, EventStreamConfig{})
	require.NoError(t, err)

	app.RequireStop()
	require.True(t, nc.IsClosed(), "connection drained on stop")
	require.False(t, srv.Running(), "embedded server shut down on stop")
}

func TestModuleWithURLProvidesNoServer(t *testing.T) {
	t.Parallel()
	remote := setup(t, EmbeddedConfig{ListenAddr: "127.0.0.1:0"})
	var (
		srv *server.Server
		nc  *nats.Conn
	)
	app := fxtest.New(t,
		Module,
		fx.Supply(Config{URL: remote.srv.ClientURL()}, discard()),
		fx.Populate(&srv, &nc),
	)
	app.RequireStart()
	require.Nil(t, srv)
	require.True(t, nc.IsConnected())
	app.RequireStop()
	require.True(t, nc.IsClosed())
}

func TestModuleGraphIsValid(t *testing.T) {
	t.Parallel()
	require.NoError(t, fx.ValidateApp(Module, fx.Supply(Config{}, discard()),
		fx.Invoke(func(*nats.Conn, jetstream.JetStream) {})))
}
