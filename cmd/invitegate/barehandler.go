package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/invitegate/invitegate/cmd/internal/barehandler"
)

// cmdBarehandler serves the bare net/http baseline of the benchmarks
// (cmd/barehandler: encoding/json, a fixed refusal) as its own process, so
// that it is measured like the ingress. Benchmarks only.
func cmdBarehandler(ctx context.Context, e env, args []string) error {
	var addr string
	f := newFlags("barehandler", "invitegate barehandler [flags]",
		"Benchmarks only: serves the bare net/http handler (decodes the callback with encoding/json,\n"+
			"answers a fixed refusal) on --addr at /callback, the practical ceiling of the ingress.", e.getenv)
	f.String(&addr, "addr", "127.0.0.1:8081", "host:port to listen on; port 0 picks a free port")
	if _, err := parseFlags(f, args, e); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("barehandler: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/callback", barehandler.New())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second,
		WriteTimeout: 3 * time.Second, IdleTimeout: 2 * time.Minute}
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	logger.Info("barehandler listening", "callback", "http://"+ln.Addr().String()+"/callback")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("barehandler: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("barehandler: shut down: %w", err)
	}
	return nil
}
