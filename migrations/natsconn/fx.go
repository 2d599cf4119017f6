package natsconn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
)

// Module provides, from a supplied Config and *slog.Logger:
//   - *server.Server: the embedded server when Config.URL is empty, else nil;
//   - *nats.Conn: the client connection;
//   - jetstream.JetStream over that connection.
//
// The embedded server is started and the connection opened while the graph
// is built (both are needed as values), with the server's start bounded by
// its readiness wait and the connection retrying in the background. OnStop
// drains the connection, then shuts the embedded server down last.
var Module = fx.Module("natsconn",
	fx.Provide(provideServer, provideConn, provideJetStream),
)

func provideServer(lc fx.Lifecycle, cfg Config, logger *slog.Logger) (*server.Server, error) {
	if cfg.URL != "" {
		return nil, nil
	}
	srv, err := StartEmbedded(cfg.Embedded, logger)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) error {
		srv.Shutdown()
		done := make(chan struct{})
		go func() { srv.WaitForShutdown(); close(done) }()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("shut down embedded nats server: %w", ctx.Err())
		}
	}))
	return srv, nil
}

func provideConn(lc fx.Lifecycle, cfg Config, srv *server.Server, logger *slog.Logger) (*nats.Conn, error) {
	nc, err := Connect(context.Background(), cfg, srv, logger)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) error {
		return Close(ctx, nc)
	}))
	return nc, nil
}

func provideJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	return js, nil
}
