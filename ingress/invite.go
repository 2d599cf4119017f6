package ingress

import (
	"fmt"
	"net/http"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// serveInvite decides a Group.CallbackBeforeInviteJoinGroup callback, hands
// its event to the sink and then answers it.
func (h *Handler) serveInvite(w http.ResponseWriter, r *http.Request, q *query, start time.Time) (string, *callbackError) {
	bp := getBuf()
	defer putBuf(bp)
	if e := h.readBody(w, r, bp); e != nil {
		return "", e
	}
	// One copy of the body backs every string of the request (and of its
	// event), so that the buffer can be reused at once.
	b, err := parseBodyCapped(string(*bp), inviteSpec, h.cfg.MaxMembers)
	if err != nil {
		return "", badBody(err)
	}
	req, be := inviteRequest(&b, q)
	if be != nil {
		return "", badBody(be)
	}
	var d decider.Decision
	if b.tooMany {
		// Past the member cap the policy is not consulted (its cost is
		// bounded at the cap): the fail mode answers, and the event records
		// the first MaxMembers members and the limit.
		d = h.engine.Limited(decider.LimitMaxMembers)
	} else {
		d = h.engine.Decide(&req)
	}
	*bp = AppendDecision((*bp)[:0], &d)
	decidedAt := h.now()
	if h.sink != nil { // before the answer: a sync sink returns once the event is durable
		h.sink.Enqueue(decider.NewInviteEvent(&req, &d, start, decidedAt))
	}
	writeAnswer(w, http.StatusOK, *bp)
	h.metrics.decision(&d)
	return string(d.Outcome), nil
}

// InviteRequest parses an invite callback body with the callback's parser
// and checks (no member cap) into the request the decider sees, for tools
// that decide a body outside a callback (`invitegate policy explain`). The
// query's fields (app, platform, client IP) are left empty.
func InviteRequest(body string) (decider.Request, error) {
	b, err := parseBody(body, inviteSpec)
	if err != nil {
		return decider.Request{}, err
	}
	req, be := inviteRequest(&b, &query{command: decider.CommandBeforeInviteJoinGroup})
	if be != nil {
		return decider.Request{}, be
	}
	return req, nil
}

// inviteRequest checks an invite body and builds its decider.Request.
func inviteRequest(b *body, q *query) (decider.Request, *bodyError) {
	switch {
	case b.hasCommand && b.command != q.command:
		return decider.Request{}, commandMismatch(b.command, q.command)
	case b.groupID == "":
		return decider.Request{}, &bodyError{reason: reasonMissingGroupID, msg: "missing GroupId"}
	case b.operator == "":
		return decider.Request{}, &bodyError{reason: reasonMissingOperator, msg: "missing Operator_Account"}
	case !b.hasMembers:
		return decider.Request{}, &bodyError{reason: reasonBadMembers, msg: "missing DestinationMembers"}
	}
	if be := checkLengths(b, q, inviteSpec); be != nil {
		return decider.Request{}, be
	}
	return decider.Request{
		App:       q.app,
		GroupID:   b.groupID,
		GroupType: b.groupType,
		Operator:  b.operator,
		Members:   b.members,
		Platform:  q.platform,
		ClientIP:  q.clientIP,
		EventTime: millisTime(b.eventTimeMs),
	}, nil
}

func commandMismatch(body, query string) *bodyError {
	return &bodyError{reason: reasonCommandMismatch,
		msg: fmt.Sprintf("CallbackCommand %q in the body differs from %q in the query", clip(body), clip(query))}
}

// millisTime converts IM's EventTime; 0 (absent) is the zero time, and so
// is a time no event can record (after year 9999): an absurd EventTime is
// treated as absent, never a reason to lose the event.
func millisTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	t := time.UnixMilli(ms).UTC()
	if !decider.EncodableTime(t) {
		return time.Time{}
	}
	return t
}

// badBody turns a parse or validation error into a 400 (413 and read
// errors never reach the parser).
func badBody(err error) *callbackError {
	if be, ok := err.(*bodyError); ok {
		return newCallbackError(http.StatusBadRequest, be.reason, be.msg)
	}
	return newCallbackError(http.StatusBadRequest, reasonMalformedJSON, err.Error())
}
