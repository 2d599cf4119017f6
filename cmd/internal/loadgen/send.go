package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// The callbacks loadgen sends. loadgen plays IM, an outside party, so it
// spells IM's protocol itself rather than importing invitegate's own
// constants: a mistake there is then caught, not mirrored.
const (
	CommandBeforeInviteJoinGroup = "Group.CallbackBeforeInviteJoinGroup"
	CommandAfterNewMemberJoin    = "Group.CallbackAfterNewMemberJoin"
	CommandAfterMemberExit       = "Group.CallbackAfterMemberExit"
)

// Outcomes of one request. Answered invites are allow, partial or reject;
// answered membership callbacks (whose answer IM ignores) are ok; a request
// without a valid answer (any error kind) is error.
const (
	OutcomeAllow   = "allow"
	OutcomePartial = "partial"
	OutcomeReject  = "reject"
	OutcomeOK      = "ok"
	OutcomeError   = "error"
)

// Error kinds: why a request got no valid answer. IM counts each as a
// failed callback.
const (
	ErrTimeout    = "timeout"    // no complete answer within Timeout
	ErrConnection = "connection" // dial, reset, EOF, or any other transport error
	ErrStatus     = "status"     // an HTTP status other than 200 (see Report.Statuses)
	ErrBadBody    = "bad_body"   // 200 but not a JSON answer with ActionStatus OK or FAIL
	ErrCanceled   = "canceled"   // the run's context was canceled while in flight
)

var (
	outcomeNames = [...]string{OutcomeAllow, OutcomePartial, OutcomeReject, OutcomeOK, OutcomeError}
	errorKinds   = [...]string{ErrTimeout, ErrConnection, ErrStatus, ErrBadBody, ErrCanceled}
)

// maxAnswer bounds the answer body read; a larger one is a bad body.
const maxAnswer = 1 << 20

// answer is the callback answer IM reads.
type answer struct {
	ActionStatus *string  `json:"ActionStatus"`
	ErrorCode    int      `json:"ErrorCode"`
	ErrorInfo    string   `json:"ErrorInfo"`
	Refused      []string `json:"RefusedMembers_Account"`
}

// job is one drawn request and the time it was due (zero in closed-loop:
// due when a worker takes it).
type job struct {
	d        *draw
	intended time.Time
}

// result is what happened to one sent request.
type result struct {
	job
	sent        time.Time
	latency     time.Duration // from intended (the user's view)
	service     time.Duration // from sent (the server's view)
	eventTimeMs int64
	status      int
	outcome     string
	errKind     string
	errMsg      string
	errorCode   int
	refused     []string
}

// send sends one request and classifies its answer.
func (r *runner) send(ctx context.Context, j job) result {
	res := result{job: j, sent: time.Now()}
	if res.intended.IsZero() {
		res.intended = res.sent
	}
	wall := r.cfg.Now()
	res.eventTimeMs = wall.UnixMilli()
	u := requestURL(r.targets[j.d.seq%int64(len(r.targets))], &r.cfg, j.d, wall.Unix())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body(j.d, res.eventTimeMs)))
	if err != nil {
		return r.failed(ctx, res, fmt.Errorf("new request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return r.failed(ctx, res, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	resp.Body.Close()
	res.status = resp.StatusCode
	if err != nil {
		return r.failed(ctx, res, fmt.Errorf("read answer: %w", err))
	}
	res.done(time.Now())
	if resp.StatusCode != http.StatusOK {
		res.outcome, res.errKind, res.errMsg = OutcomeError, ErrStatus, resp.Status
		return res
	}
	if err := res.classify(data); err != nil {
		res.outcome, res.errKind, res.errMsg = OutcomeError, ErrBadBody, err.Error()
	}
	return res
}

func (res *result) done(end time.Time) {
	res.latency = end.Sub(res.intended)
	res.service = end.Sub(res.sent)
}

// classify reads a 200 answer into the result's outcome.
func (res *result) classify(data []byte) error {
	if len(data) > maxAnswer {
		return fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	if a.ActionStatus == nil || (*a.ActionStatus != "OK" && *a.ActionStatus != "FAIL") {
		return errors.New("answer has no ActionStatus OK or FAIL")
	}
	res.errorCode, res.refused = a.ErrorCode, a.Refused
	switch {
	case res.d.command != CommandBeforeInviteJoinGroup:
		res.outcome = OutcomeOK
	case a.ErrorCode != 0:
		res.outcome = OutcomeReject
	case len(a.Refused) > 0:
		res.outcome = OutcomePartial
	default:
		res.outcome = OutcomeAllow
	}
	return nil
}

// failed classifies a transport error.
func (r *runner) failed(ctx context.Context, res result, err error) result {
	res.done(time.Now())
	res.outcome, res.errMsg = OutcomeError, err.Error()
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		res.errKind = ErrCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		res.errKind = ErrTimeout
	default:
		res.errKind = ErrConnection
	}
	return res
}

// idleConnTimeout is how long loadgen keeps an unused connection.
const idleConnTimeout = 20 * time.Second

// newClient is a keep-alive client like IM's: up to concurrency idle
// connections kept, Timeout for the whole exchange, no proxy, no gzip. An
// idle connection is closed by the client after idleConnTimeout, before
// the ingress's own idle timeout (30 s) closes it: a request sent on a
// connection the server is closing fails as a transport error (a POST is
// not retried), which happened to connections opened during a latency
// spike and left idle afterwards.
func newClient(cfg *Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        cfg.Concurrency,
			MaxIdleConnsPerHost: cfg.Concurrency,
			IdleConnTimeout:     idleConnTimeout,
			TLSHandshakeTimeout: cfg.Timeout,
			DisableCompression:  true,
		},
	}
}
