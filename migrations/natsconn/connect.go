package natsconn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Connect opens the client connection: in-process to embedded when it is not
// nil, else to cfg.URL with the credential and TLS files of cfg. The
// connection reconnects forever and, if the first attempt fails, keeps
// trying in the background (the returned *nats.Conn is then RECONNECTING and
// buffers up to ReconnectBufSize). Close it with Drain or Close.
func Connect(ctx context.Context, cfg Config, embedded *server.Server, logger *slog.Logger) (*nats.Conn, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	opts, err := connectOptions(cfg, logger)
	if err != nil {
		return nil, err
	}
	url := cfg.URL
	if embedded != nil {
		opts = append(opts, nats.InProcessServer(embedded))
		url = "in-process"
	} else if url == "" {
		return nil, invalid("no URL and no embedded server")
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	if !nc.IsConnected() {
		logger.Warn("nats not reachable yet, retrying in the background", "url", url)
	}
	return nc, nil
}

func connectOptions(cfg Config, logger *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.ReconnectBufSize(cfg.ReconnectBufSize),
		nats.PingInterval(cfg.PingInterval),
		nats.MaxPingsOutstanding(2),
		// Bounds Close when the server is frozen (the default is 30 s): by
		// then the outbox has flushed or spooled what it held.
		nats.DrainTimeout(DrainTimeout),
		nats.ConnectHandler(func(nc *nats.Conn) {
			logger.Info("nats connected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			logger.Info("nats connection closed", "err", nc.LastError())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Error("nats async error", "subject", subject, "err", err)
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey file %s: %w", cfg.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	return opts, nil
}

// Close drains nc (flushing what it buffered) and waits for it to close,
// or closes it at once when ctx ends first or it is not connected.
func Close(ctx context.Context, nc *nats.Conn) error {
	if nc.IsClosed() {
		return nil
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(chainClosed(nc.ClosedHandler(), closed))
	if !nc.IsConnected() {
		nc.Close()
		return nil
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("drain nats connection: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		nc.Close()
		return fmt.Errorf("drain nats connection: %w", ctx.Err())
	}
}

func chainClosed(prev nats.ConnHandler, closed chan struct{}) nats.ConnHandler {
	return func(nc *nats.Conn) {
		if prev != nil {
			prev(nc)
		}
		close(closed)
	}
}
