package ingress

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
)

// EventSink receives the event of every recorded callback, before its
// answer is written. Enqueue returns once the answer may be written: at
// once for an asynchronous sink (the outbox owns delivery, retries and
// spilling), or once the event is durable, within a bound under IM's 2 s,
// for a synchronous one. The ingress owns this interface, *outbox.Outbox
// implements it.
type EventSink interface {
	Enqueue(ev decider.Event)
}

// Deps are a Handler's collaborators.
type Deps struct {
	Engine *decider.Engine // required: decides invites
	// Registry receives the ingress metrics (required); a Server serves it
	// on /metrics.
	Registry *prometheus.Registry
	Logger   *slog.Logger     // nil discards logs
	Sink     EventSink        // nil turns events off
	Now      func() time.Time // nil means time.Now
}

// Handler answers IM callbacks on one URL; see the package documentation
// for the protocol. It is safe for concurrent use.
type Handler struct {
	cfg      Config
	engine   *decider.Engine
	registry *prometheus.Registry
	logger   *slog.Logger
	sink     EventSink
	now      func() time.Time
	metrics  *metrics
}

// NewHandler validates cfg (defaults applied) and registers the ingress
// metrics on deps.Registry; a registry takes one Handler.
func NewHandler(cfg Config, deps Deps) (*Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Engine == nil || deps.Registry == nil {
		return nil, errors.New("ingress handler: Engine and Registry are required")
	}
	m, err := newMetrics(deps.Registry, deps.Engine)
	if err != nil {
		return nil, fmt.Errorf("ingress handler: %w", err)
	}
	h := &Handler{cfg: cfg, engine: deps.Engine, registry: deps.Registry, logger: deps.Logger,
		sink: deps.Sink, now: deps.Now, metrics: m}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// ServeHTTP answers one callback and records it in the metrics.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	q := parseQuery(r.URL.RawQuery)
	outcome, e := h.serve(w, r, &q, start)
	if e != nil {
		h.fail(w, r, q.command, e)
		outcome = outcomeError
	}
	h.metrics.callback(q.command, outcome)
	h.metrics.callbackDur.Observe(h.now().Sub(start).Seconds())
}

var okAnswerBytes = []byte(okAnswer)

// serve checks the request and dispatches it on its command. It returns the
// outcome of an answered callback, or the error to answer.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, q *query, start time.Time) (string, *callbackError) {
	if r.Method != http.MethodPost {
		return "", newCallbackError(http.StatusMethodNotAllowed, reasonMethod,
			fmt.Sprintf("method %s not allowed: IM callbacks are POST", clip(r.Method)))
	}
	if q.app != h.cfg.SdkAppID {
		if q.seen&seenApp == 0 {
			return "", newCallbackError(http.StatusForbidden, reasonAppMismatch, "missing SdkAppid query parameter")
		}
		return "", newCallbackError(http.StatusForbidden, reasonAppMismatch,
			fmt.Sprintf("SdkAppid %q is not this service's app", clip(q.app)))
	}
	if h.cfg.CallbackToken != "" {
		if e := authenticate(h.cfg.CallbackToken, h.cfg.MaxClockSkew, q, start); e != nil {
			return "", e
		}
	}
	switch q.command {
	case "":
		return "", newCallbackError(http.StatusBadRequest, reasonMissingCommand, "missing CallbackCommand query parameter")
	case decider.CommandBeforeInviteJoinGroup:
		return h.serveInvite(w, r, q, start)
	case decider.CommandAfterNewMemberJoin:
		return h.serveMembership(w, r, q, start, joinSpec)
	case decider.CommandAfterMemberExit:
		return h.serveMembership(w, r, q, start, exitSpec)
	}
	writeAnswer(w, http.StatusOK, okAnswerBytes)
	return outcomeOK, nil
}

// fail answers e, counts it and logs it at debug level (a caller's mistake
// is not the service's error).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, command string, e *callbackError) {
	writeFail(w, e)
	h.metrics.error(e.reason)
	if h.logger.Enabled(r.Context(), slog.LevelDebug) {
		h.logger.LogAttrs(r.Context(), slog.LevelDebug, "callback refused",
			slog.Int("status", e.status), slog.String("reason", e.reason),
			slog.String("command", command), slog.String("error", e.info))
	}
}

// readBody reads the request body into *bp, at most MaxBodyBytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, bp *[]byte) *callbackError {
	limit := h.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	b := (*bp)[:0]
	if r.ContentLength > 0 {
		b = slices.Grow(b, int(r.ContentLength)+1)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			*bp = b
			var mbe *http.MaxBytesError
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case errors.As(err, &mbe):
				return tooLarge(limit)
			}
			return newCallbackError(http.StatusBadRequest, reasonBodyRead, "read body: "+err.Error())
		}
	}
}

func tooLarge(limit int64) *callbackError {
	return newCallbackError(http.StatusRequestEntityTooLarge, reasonBodyTooLarge,
		fmt.Sprintf("body larger than %d bytes", limit))
}

// clip bounds input echoed in an ErrorInfo.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
