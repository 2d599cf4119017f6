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
	n := 0
	for _, d := range msgs {
		n += len(d.events)
	}
	r := &batchRows{invites: make([]*event, 0, n)}
	seen := make(map[uuid.UUID]struct{}, n)
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

// inviteColumns are the columns of invite_events the projector writes, in
// the order inviteCopy writes them.
var inviteColumns = []string{"event_id", "schema_version", "app", "command", "group_id", "group_type",
	"operator", "member_count", "refused_count", "outcome", "refused", "error_code", "error_info",
	"reject_rule", "shadow", "policy_revision", "fail_mode", "platform", "client_ip", "event_time",
	"received_at", "decided_at", "stream_seq", "stats", "members", "stats_unread", "stats_known", "limit_hit"}

// inviteCopy returns the COPY data of evs' invite_events rows.
func inviteCopy(evs []*event) []byte {
	c := newCopyData(len(evs), 400)
	for _, ev := range evs {
		c.row(len(inviteColumns))
		c.uuid(ev.id)
		c.int2(int16(ev.Schema))
		c.text(ev.App, ev.Command, ev.GroupID, ev.GroupType, ev.Operator)
		c.int4(int32(len(ev.Members)))
		c.int4(int32(len(ev.Refused)))
		c.text(string(ev.Outcome))
		c.jsonb(len(ev.Refused), ev.Refused)
		c.int8(int64(ev.ErrorCode))
		c.text(ev.ErrorInfo, ev.RejectRule)
		c.jsonb(len(ev.Shadow), ev.Shadow)
		c.int8(int64(ev.PolicyRevision))
		c.bool(ev.FailMode)
		c.text(ev.Platform, ev.ClientIP)
		c.timestamptzOrNull(ev.EventTime)
		c.timestamptz(ev.ReceivedAt)
		c.timestamptz(ev.DecidedAt)
		c.int8(int64(ev.seq))
		c.jsonb(len(ev.Stats), ev.Stats)
		c.textArray(ev.Members)
		c.jsonb(len(ev.StatsUnread), ev.StatsUnread)
		c.textArrayOrNull(ev.StatsKnown)
		c.textOrNull(limitHit(ev))
	}
	return c.end()
}

// memberColumns are the columns of invite_members, in the order memberCopy
// writes them.
var memberColumns = []string{"event_id", "position", "member", "refused", "rule", "received_at"}

// memberCopy returns the COPY data of the invite_members rows of evs: one
// per member, in request order, with the rule that refused it if any.
func memberCopy(evs []*event) []byte {
	c := newCopyData(2*len(evs), 80)
	for _, ev := range evs {
		for pos, member := range ev.Members {
			var rule *string
			for i := range ev.Refused {
				if ev.Refused[i].Member == member {
					rule = &ev.Refused[i].Rule
					break
				}
			}
			c.row(len(memberColumns))
			c.uuid(ev.id)
			c.int4(int32(pos))
			c.text(member)
			c.bool(rule != nil)
			c.textOrNull(rule)
			c.timestamptz(ev.ReceivedAt)
		}
	}
	return c.end()
}

// membershipColumns returns the unnest arrays of insertMembershipsSQL.
func membershipColumns(evs []*event) []any {
	n := len(evs)
	var (
		ids                                                  = make([][16]byte, n)
		schemas                                              = make([]int16, n)
		kinds, apps, commands, groups, groupTypes, operators = strs(n), strs(n), strs(n), strs(n), strs(n), strs(n)
		members, changeTypes, platforms, clientIPs, limits   = strs(n), strs(n), strs(n), strs(n), strs(n)
		eventTimes                                           = make([]time.Time, n)
		receivedAts, decidedAts                              = make([]time.Time, n), make([]time.Time, n)
		seqs                                                 = make([]int64, n)
	)
	for i, ev := range evs {
		ids[i], schemas[i], kinds[i] = ev.id, int16(ev.Schema), ev.Kind
		apps[i], commands[i], groups[i], groupTypes[i] = ev.App, ev.Command, ev.GroupID, ev.GroupType
		operators[i], changeTypes[i], platforms[i], clientIPs[i] = ev.Operator, ev.ChangeType, ev.Platform, ev.ClientIP
		members[i] = jsonText(ev.Members)
		if ev.Members == nil {
			members[i] = "[]"
		}
		limits[i] = ev.Limit // '' is NULL in the SQL, by NULLIF
		eventTimes[i] = orZero(ev.EventTime)
		receivedAts[i], decidedAts[i], seqs[i] = ev.ReceivedAt, ev.DecidedAt, int64(ev.seq)
	}
	return []any{ids, schemas, kinds, apps, commands, groups, groupTypes, operators,
		members, changeTypes, platforms, clientIPs, eventTimes, receivedAts, decidedAts, seqs, limits}
}

// limitHit is the limit_hit of ev: the bound that decided it, nil (NULL)
// when none did.
func limitHit(ev *event) *string {
	if ev.Limit == "" {
		return nil
	}
	return &ev.Limit
}

func strs(n int) []string { return make([]string, n) }

// jsonText encodes v as JSON text.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // slices of strings always encode
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
