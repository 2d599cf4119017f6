package projector

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/invitegate/invitegate/decider"
)

// batchRows is one batch laid out for the database: events unique by id
// and sorted by it (so that concurrent transactions meet conflicting keys in
// the same order), and the bad lines to dead-letter.
type batchRows struct {
	invites     []*event
	memberships []*event
	inBatchDups int          // copies of an event already in this batch
	bad         []deadLetter // bad lines of the batch's messages
	stream      string
	redelivered []int64 // stream sequences of messages delivered before
}

func collectRows(msgs []*delivery, now time.Time) *batchRows {
	r := &batchRows{}
	seen := make(map[uuid.UUID]struct{})
	for _, d := range msgs {
		r.stream = d.stream
		if d.delivered > 1 {
			r.redelivered = append(r.redelivered, int64(d.seq))
		}
		for i := range d.events {
			ev := &d.events[i]
			if _, dup := seen[ev.id]; dup {
				r.inBatchDups++
				continue
			}
			seen[ev.id] = struct{}{}
			if ev.Kind == decider.KindInvite {
				r.invites = append(r.invites, ev)
			} else {
				r.memberships = append(r.memberships, ev)
			}
		}
		for _, b := range d.bad {
			r.bad = append(r.bad, badLineLetter(d, b, now))
		}
	}
	byID := func(a, b *event) int { return bytes.Compare(a.id[:], b.id[:]) }
	slices.SortFunc(r.invites, byID)
	slices.SortFunc(r.memberships, byID)
	return r
}

// inviteColumns returns the unnest arrays of insertInvitesSQL, in order.
func inviteColumns(evs []*event) []any {
	n := len(evs)
	var (
		ids                                                     = make([][16]byte, n)
		schemas                                                 = make([]int16, n)
		apps, commands, groups, groupTypes, operators, outcomes = strs(n), strs(n), strs(n), strs(n), strs(n), strs(n)
		errorInfos, rejectRules, platforms, clientIPs           = strs(n), strs(n), strs(n), strs(n)
		memberCounts, refusedCounts                             = make([]int32, n), make([]int32, n)
		refused, shadow, stats                                  = strs(n), strs(n), strs(n)
		errorCodes, revisions, seqs                             = make([]int64, n), make([]int64, n), make([]int64, n)
		failModes                                               = make([]bool, n)
		eventTimes, receivedAts, decidedAts                     = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	)
	for i, ev := range evs {
		ids[i], schemas[i] = ev.id, int16(ev.Schema)
		apps[i], commands[i], groups[i], groupTypes[i] = ev.App, ev.Command, ev.GroupID, ev.GroupType
		operators[i], outcomes[i] = ev.Operator, string(ev.Outcome)
		memberCounts[i], refusedCounts[i] = int32(len(ev.Members)), int32(len(ev.Refused))
		refused[i], shadow[i] = jsonText(len(ev.Refused), ev.Refused), jsonText(len(ev.Shadow), ev.Shadow)
		stats[i] = jsonText(len(ev.Stats), ev.Stats)
		errorCodes[i], errorInfos[i], rejectRules[i] = int64(ev.ErrorCode), ev.ErrorInfo, ev.RejectRule
		revisions[i], failModes[i] = int64(ev.PolicyRevision), ev.FailMode
		platforms[i], clientIPs[i] = ev.Platform, ev.ClientIP
		eventTimes[i] = orZero(ev.EventTime)
		receivedAts[i], decidedAts[i], seqs[i] = ev.ReceivedAt, ev.DecidedAt, int64(ev.seq)
	}
	return []any{ids, schemas, apps, commands, groups, groupTypes, operators,
		memberCounts, refusedCounts, outcomes, refused, errorCodes, errorInfos, rejectRules, shadow,
		revisions, failModes, platforms, clientIPs, eventTimes, receivedAts, decidedAts, seqs, stats}
}

// membershipColumns returns the unnest arrays of insertMembershipsSQL.
func membershipColumns(evs []*event) []any {
	n := len(evs)
	var (
		ids                                                  = make([][16]byte, n)
		schemas                                              = make([]int16, n)
		kinds, apps, commands, groups, groupTypes, operators = strs(n), strs(n), strs(n), strs(n), strs(n), strs(n)
		members, changeTypes, platforms, clientIPs           = strs(n), strs(n), strs(n), strs(n)
		eventTimes                                           = make([]time.Time, n)
		receivedAts, decidedAts                              = make([]time.Time, n), make([]time.Time, n)
		seqs                                                 = make([]int64, n)
	)
	for i, ev := range evs {
		ids[i], schemas[i], kinds[i] = ev.id, int16(ev.Schema), ev.Kind
		apps[i], commands[i], groups[i], groupTypes[i] = ev.App, ev.Command, ev.GroupID, ev.GroupType
		operators[i], changeTypes[i], platforms[i], clientIPs[i] = ev.Operator, ev.ChangeType, ev.Platform, ev.ClientIP
		members[i] = jsonText(1, ev.Members)
		if ev.Members == nil {
			members[i] = "[]"
		}
		eventTimes[i] = orZero(ev.EventTime)
		receivedAts[i], decidedAts[i], seqs[i] = ev.ReceivedAt, ev.DecidedAt, int64(ev.seq)
	}
	return []any{ids, schemas, kinds, apps, commands, groups, groupTypes, operators,
		members, changeTypes, platforms, clientIPs, eventTimes, receivedAts, decidedAts, seqs}
}

func strs(n int) []string { return make([]string, n) }

// jsonText encodes v as JSON text, or returns "" (NULL in the SQL, by
// NULLIF) when n is 0. Plain []string arrays take pgx's fast path.
func jsonText(n int, v any) string {
	if n == 0 {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil { // slices of strings and plain structs always encode
		panic(err)
	}
	return string(b)
}

// orZero returns *t, or the zero time (NULL in the SQL, by NULLIF) for nil.
func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// memberRows feeds the members of the inserted invites to CopyFrom.
type memberRows struct {
	evs    []*event
	ev, at int
	row    [6]any
}

func (m *memberRows) Next() bool {
	for m.ev < len(m.evs) && m.at >= len(m.evs[m.ev].Members) {
		m.ev, m.at = m.ev+1, 0
	}
	if m.ev >= len(m.evs) {
		return false
	}
	ev := m.evs[m.ev]
	member := ev.Members[m.at]
	var rule *string
	for i := range ev.Refused {
		if ev.Refused[i].Member == member {
			rule = &ev.Refused[i].Rule
			break
		}
	}
	m.row = [6]any{[16]byte(ev.id), int32(m.at), member, rule != nil, rule, ev.ReceivedAt}
	m.at++
	return true
}

func (m *memberRows) Values() ([]any, error) { return m.row[:], nil }
func (m *memberRows) Err() error             { return nil }

var memberColumns = []string{"event_id", "position", "member", "refused", "rule", "received_at"}
