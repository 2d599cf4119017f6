package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/invitegate/invitegate/decider/startstop"
)

// ErrStopped is returned by Start after Stop: a Server runs once (it is
// startstop.ErrStopped).
var ErrStopped = startstop.ErrStopped

// Server runs the callback listener (Handler on CallbackPath) and the admin
// listener (/metrics, /healthz, /readyz). It owns both serving goroutines.
type Server struct {
	cfg     Config
	handler *Handler
	logger  *slog.Logger

	life    startstop.State
	mu      sync.Mutex      // guards addrs and fields
	servers [2]*http.Server // callback, admin
	addrs   [2]net.Addr
	serving sync.WaitGroup
	fields  []readyField // added to a ready /readyz answer
}

// readyField is one "name":value() pair of a ready /readyz answer.
type readyField struct {
	name  string
	value func() string
}

// AddReadyField adds "name":"value()" to every ready /readyz answer: the
// state of what runs beside the ingress in the same process (invitegate
// run reports "analytics":"paused" while the projector's database is
// unreachable), which does not stop the process from answering callbacks.
// Call it before Start.
func (s *Server) AddReadyField(name string, value func() string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fields = append(s.fields, readyField{name, value})
}

// NewServer returns a Server for h, configured by cfg (defaults applied);
// it binds nothing until Start.
func NewServer(cfg Config, h *Handler) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("ingress server: nil Handler")
	}
	s := &Server{cfg: cfg, handler: h, logger: h.logger}
	s.servers[0] = s.httpServer(s.callbackMux())
	s.servers[1] = s.httpServer(s.adminMux())
	return s, nil
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
}

// callbackMux serves the Handler on CallbackPath only.
func (s *Server) callbackMux() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != s.cfg.CallbackPath {
			s.handler.fail(w, r, "", newCallbackError(http.StatusNotFound, reasonNotFound,
				fmt.Sprintf("no callback at %q: IM must post to %q", clip(r.URL.Path), s.cfg.CallbackPath)))
			return
		}
		s.handler.ServeHTTP(w, r)
	})
}

func (s *Server) adminMux() http.Handler {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(s.handler.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelError),
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		s.handler.metrics.syncRules()
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeAnswer(w, http.StatusOK, []byte(`{"alive":true}`))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.handler.cfg.Pprof {
		HandlePprof(mux)
	}
	return mux
}

// HandlePprof serves Go's profiles under /debug/pprof/ on mux (the admin
// listeners, with --admin-pprof).
func HandlePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// readyz answers 200 once the engine holds a policy snapshot, else 503;
// 503 too, with the reason, while the engine is marked unready (the policy
// it serves may be older than the log's). Either way it says whether
// callbacks must be signed ("callback_auth": "on" with a CallbackToken,
// "off" without).
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	auth := `,"callback_auth":"on"}`
	if s.handler.cfg.CallbackToken == "" {
		auth = `,"callback_auth":"off"}`
	}
	snap := s.handler.engine.Snapshot()
	if snap == nil {
		writeAnswer(w, http.StatusServiceUnavailable,
			[]byte(`{"ready":false,"reason":"no policy snapshot loaded"`+auth))
		return
	}
	if reason := s.handler.engine.Unready(); reason != "" {
		b, _ := json.Marshal(struct {
			Ready        bool   `json:"ready"`
			Reason       string `json:"reason"`
			Revision     uint64 `json:"policy_revision"`
			CallbackAuth string `json:"callback_auth"`
		}{false, reason, snap.Revision(), map[bool]string{true: "on", false: "off"}[s.handler.cfg.CallbackToken != ""]})
		writeAnswer(w, http.StatusServiceUnavailable, b)
		return
	}
	b := strconv.AppendUint([]byte(`{"ready":true,"policy_revision":`), snap.Revision(), 10)
	for _, f := range s.fields {
		b = strconv.AppendQuote(append(strconv.AppendQuote(append(b, ','), f.name), ':'), f.value())
	}
	writeAnswer(w, http.StatusOK, append(b, auth...))
}

// Start binds both listeners now, so that an address in use fails here,
// and serves them in goroutines. Starting twice is a no-op; starting after
// Stop returns ErrStopped.
func (s *Server) Start(ctx context.Context) error {
	return s.life.Start(func() error { return s.start(ctx) })
}

func (s *Server) start(ctx context.Context) error {
	var lc net.ListenConfig
	var lns [2]net.Listener
	for i, addr := range []string{s.cfg.HTTPAddr, s.cfg.AdminAddr} {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			if lns[0] != nil {
				_ = lns[0].Close()
			}
			return fmt.Errorf("ingress: listen on %s: %w", addr, err)
		}
		lns[i] = ln
	}
	m := s.handler.metrics
	lns[0] = newLimitListener(lns[0], s.cfg.MaxConnections, m.connsReached.Inc, m.connsOpen.Add)
	s.mu.Lock()
	s.addrs = [2]net.Addr{lns[0].Addr(), lns[1].Addr()}
	s.mu.Unlock()
	for i, srv := range s.servers {
		s.serving.Go(func() { s.serve(srv, lns[i]) })
	}
	s.logger.Info("ingress listening", slog.String("callback", "http://"+s.addrs[0].String()+s.cfg.CallbackPath),
		slog.String("admin", s.addrs[1].String()))
	return nil
}

// serve runs one http.Server until Stop; it logs an unexpected end.
func (s *Server) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.logger.Error("ingress listener failed", slog.String("addr", ln.Addr().String()), slog.Any("error", err))
	}
}

// Stop stops accepting connections, closes idle ones and waits for in-flight
// requests to finish, within ctx's deadline and ShutdownTimeout. Past them
// it closes the remaining connections and returns the context's error.
// Stop is idempotent and safe before Start.
func (s *Server) Stop(ctx context.Context) error {
	return s.life.Stop(func() error {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
		var errs [2]error
		var wg sync.WaitGroup
		for i, srv := range s.servers {
			wg.Go(func() {
				if err := srv.Shutdown(ctx); err != nil {
					_ = srv.Close()
					errs[i] = fmt.Errorf("ingress: shut down %s: %w", s.addrs[i], err)
				}
			})
		}
		wg.Wait()
		s.serving.Wait()
		return errors.Join(errs[:]...)
	})
}

// Addr returns the callback listener's bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[0]
}

// AdminAddr returns the admin listener's bound address, or nil before Start.
func (s *Server) AdminAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[1]
}
