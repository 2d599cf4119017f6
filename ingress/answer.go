package ingress

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/invitegate/invitegate/decider"
)

// Reasons label invitegate_callback_errors_total. The set is closed so that
// no input can grow the metric's cardinality.
const (
	reasonMethod             = "method_not_allowed"
	reasonNotFound           = "not_found"
	reasonAppMismatch        = "app_mismatch"
	reasonMissingSign        = "missing_sign"
	reasonMissingRequestTime = "missing_request_time"
	reasonBadRequestTime     = "bad_request_time"
	reasonClockSkew          = "clock_skew"
	reasonBadSign            = "bad_sign"
	reasonMissingCommand     = "missing_command"
	reasonCommandMismatch    = "command_mismatch"
	reasonBodyTooLarge       = "body_too_large"
	reasonBodyRead           = "body_read"
	reasonMalformedJSON      = "malformed_json"
	reasonNotObject          = "not_object"
	reasonFieldType          = "field_type"
	reasonMissingGroupID     = "missing_group_id"
	reasonMissingOperator    = "missing_operator"
	reasonBadMembers         = "bad_members"
	reasonBadEventTime       = "bad_event_time"

	// membershipReasonPrefix marks errors of membership callbacks, which are
	// counted and logged but still answered OK (IM ignores the answer).
	membershipReasonPrefix = "membership_"
)

// answeredReasons are the reasons of error answers.
var answeredReasons = []string{
	reasonMethod, reasonNotFound, reasonAppMismatch, reasonMissingSign, reasonMissingRequestTime,
	reasonBadRequestTime, reasonClockSkew, reasonBadSign, reasonMissingCommand, reasonCommandMismatch,
	reasonBodyTooLarge, reasonBodyRead, reasonMalformedJSON, reasonNotObject, reasonFieldType,
	reasonMissingGroupID, reasonMissingOperator, reasonBadMembers, reasonBadEventTime, reasonFieldTooLong,
	reasonFieldNUL,
}

// bodyReasons are the reasons a membership body can be refused for.
var bodyReasons = []string{
	reasonCommandMismatch, reasonBodyTooLarge, reasonBodyRead, reasonMalformedJSON, reasonNotObject,
	reasonFieldType, reasonMissingGroupID, reasonBadMembers, reasonBadEventTime, reasonFieldTooLong,
	reasonFieldNUL,
}

// callbackError is an error answer: an HTTP status, a metric reason and the
// ErrorInfo text.
type callbackError struct {
	status int
	reason string
	info   string
}

func newCallbackError(status int, reason, info string) *callbackError {
	return &callbackError{status: status, reason: reason, info: info}
}

func (e *callbackError) Error() string { return e.info }

// Header values shared by every answer; net/http only reads them.
var (
	headerJSON  = []string{"application/json"}
	headerAllow = []string{http.MethodPost}
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBuf keeps rare huge buffers out of the pool.
const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// AppendDecision appends the answer IM gets for an invite decided d: a
// rejection with its code (at least decider.DefaultRejectCode) and info,
// the refused members of a partial decision, else a plain OK.
func AppendDecision(b []byte, d *decider.Decision) []byte {
	switch d.Outcome {
	case decider.OutcomeReject:
		return appendAnswer(b, max(d.ErrorCode, decider.DefaultRejectCode), d.ErrorInfo, nil)
	case decider.OutcomePartial:
		return appendAnswer(b, 0, "", d.Refused)
	}
	return appendAnswer(b, 0, "", nil)
}

// appendAnswer appends IM's answer: OK with code and info, and
// RefusedMembers_Account when refused is not empty.
func appendAnswer(b []byte, code int, info string, refused []decider.Refusal) []byte {
	b = append(b, `{"ActionStatus":"OK","ErrorCode":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"ErrorInfo":`...)
	b = decider.AppendJSONString(b, info)
	if len(refused) > 0 {
		b = append(b, `,"RefusedMembers_Account":[`...)
		for i, r := range refused {
			if i > 0 {
				b = append(b, ',')
			}
			b = decider.AppendJSONString(b, r.Member)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendFail appends an error answer.
func appendFail(b []byte, info string) []byte {
	b = append(b, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":`...)
	b = decider.AppendJSONString(b, info)
	return append(b, '}')
}

const okAnswer = `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`

// writeAnswer writes a JSON answer with an exact Content-Length, then
// flushes it so that it leaves before any work done after the answer.
func writeAnswer(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Content-Length"] = contentLength(len(b))
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write is the client's loss; IM treats it as a timeout
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// contentLengths holds the Content-Length values of common answer sizes,
// shared like headerJSON, so that writing one allocates nothing.
var contentLengths = func() (t [1024][]string) {
	for n := range t {
		t[n] = []string{strconv.Itoa(n)}
	}
	return t
}()

func contentLength(n int) []string {
	if n < len(contentLengths) {
		return contentLengths[n]
	}
	return []string{strconv.Itoa(n)}
}

// writeFail writes e as an error answer.
func writeFail(w http.ResponseWriter, e *callbackError) {
	if e.status == http.StatusMethodNotAllowed {
		w.Header()["Allow"] = headerAllow
	}
	bp := getBuf()
	*bp = appendFail(*bp, e.info)
	writeAnswer(w, e.status, *bp)
	putBuf(bp)
}
