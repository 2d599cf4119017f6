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
		b, err := parseBodyCapped(string(*bp), spec, h.cfg.MaxMembers)
		if err == nil {
			m, err = membership(&b, q, spec)
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
	if m.Limit != "" {
		h.metrics.limited(m.Limit)
	}
	if h.sink != nil {
		h.sink.Enqueue(decider.NewMembershipEvent(&m, start))
	}
	return outcomeOK, nil
}

// membership checks a membership body leniently (only GroupId is required,
// every string bounded) and builds its decider.Membership. A list over the
// member cap is recorded with its first members and the limit.
func membership(b *body, q *query, spec bodySpec) (decider.Membership, error) {
	if b.hasCommand && b.command != q.command {
		return decider.Membership{}, commandMismatch(b.command, q.command)
	}
	if b.groupID == "" {
		return decider.Membership{}, &bodyError{reason: reasonMissingGroupID, msg: "missing GroupId"}
	}
	if be := checkLengths(b, q, spec); be != nil {
		return decider.Membership{}, be
	}
	limit := ""
	if b.tooMany {
		limit = decider.LimitMaxMembers
	}
	return decider.Membership{
		Limit:      limit,
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
