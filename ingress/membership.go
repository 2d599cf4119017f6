package ingress

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// serveMembership records Group.CallbackAfterNewMemberJoin and
// Group.CallbackAfterMemberExit as a membership event, then answers OK
// (IM ignores the answer; a sync sink holds it until the event is durable). A body that cannot be
// recorded is counted (membership_<reason>) and logged at debug level.
func (h *Handler) serveMembership(w http.ResponseWriter, r *http.Request, q *query, start time.Time, spec bodySpec) (string, *callbackError) {
	bp := getBuf()
	defer putBuf(bp)
	e := h.readBody(w, r, bp)
	defer writeAnswer(w, http.StatusOK, okAnswerBytes) // after the sink took the event

	var m decider.Membership
	if e == nil {
		b, err := parseBody(string(*bp), spec)
		if err == nil {
			m, err = membership(&b, q)
		}
		if err != nil {
			e = badBody(err)
		}
	}
	if e != nil {
		h.metrics.error(membershipReasonPrefix + e.reason)
		if h.logger.Enabled(r.Context(), slog.LevelDebug) {
			h.logger.LogAttrs(r.Context(), slog.LevelDebug, "membership callback not recorded",
				slog.String("command", q.command), slog.String("reason", e.reason), slog.String("error", e.info))
		}
		return outcomeOK, nil
	}
	if h.sink != nil {
		h.sink.Enqueue(decider.NewMembershipEvent(&m, start))
	}
	return outcomeOK, nil
}

// membership checks a membership body leniently (only GroupId is required)
// and builds its decider.Membership.
func membership(b *body, q *query) (decider.Membership, error) {
	if b.hasCommand && b.command != q.command {
		return decider.Membership{}, commandMismatch(b.command, q.command)
	}
	if b.groupID == "" {
		return decider.Membership{}, &bodyError{reason: reasonMissingGroupID, msg: "missing GroupId"}
	}
	return decider.Membership{
		App:        q.app,
		Command:    q.command,
		GroupID:    b.groupID,
		GroupType:  b.groupType,
		Operator:   b.operator,
		Members:    b.members,
		ChangeType: b.changeType,
		Platform:   q.platform,
		ClientIP:   q.clientIP,
		EventTime:  millisTime(b.eventTimeMs),
	}, nil
}
