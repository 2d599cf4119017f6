package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/invitegate/invitegate/cmd/internal/barehandler"
)

// cmdBarehandler serves the bare net/http baseline of the comparison
// (cmd/internal/barehandler: encoding/json, a fixed refusal) as its own
// process, so that it is measured like the ingress.
func cmdBarehandler(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("barehandler", stdout,
		"Serves the bare net/http handler (decodes the callback with encoding/json, answers a fixed\n"+
			"refusal) on --addr at /callback, the practical ceiling of the ingress.")
	addr := f.String("addr", "127.0.0.1:8081", "host:port to listen on; port 0 picks a free port")
	if err := parse(f, args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("barehandler: listen on %s: %w", *addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/callback", barehandler.New())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second,
		WriteTimeout: 3 * time.Second, IdleTimeout: 2 * time.Minute}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
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
