package decider

import (
	"time"

	"github.com/google/uuid"
)

// SchemaVersion is the version of the Event JSON schema. It is bumped on a
// change an old reader would misread or silently lose: version 2 added
// stats_unread and stats_known (the inputs a replay needs), which a
// version-1 projector would drop. Readers accept MinSchemaVersion and up.
const SchemaVersion = 2

// MinSchemaVersion is the oldest event schema readers still accept.
const MinSchemaVersion = 1

// Event kinds; each is also the last token of the event's NATS subject,
// invitegate.events.<app>.<kind>.
const (
	KindInvite       = "invite"        // a decided Group.CallbackBeforeInviteJoinGroup
	KindMemberJoined = "member_joined" // Group.CallbackAfterNewMemberJoin
	KindMemberExited = "member_exited" // Group.CallbackAfterMemberExit
)

// Event is the record of one callback, as published to JetStream and stored
// by the projector. Invite events carry the decision fields; membership
// events carry ChangeType. The JSON form is documented in README.md
// ("Event schema") and is the contract with every consumer.
type Event struct {
	Schema    int      `json:"schema"`
	ID        string   `json:"id"` // UUIDv7, unique; every copy after the first is skipped downstream
	Kind      string   `json:"kind"`
	App       string   `json:"app"`
	Command   string   `json:"command"`
	GroupID   string   `json:"group_id"`
	GroupType string   `json:"group_type"`
	Operator  string   `json:"operator"`
	Members   []string `json:"members"`

	// Invite events only.
	Outcome        Outcome        `json:"outcome,omitempty"`
	Refused        []Refusal      `json:"refused,omitempty"`
	ErrorCode      int            `json:"error_code"`
	ErrorInfo      string         `json:"error_info,omitempty"`
	RejectRule     string         `json:"reject_rule,omitempty"`
	Shadow         []ShadowEffect `json:"shadow,omitempty"`
	PolicyRevision uint64         `json:"policy_revision"`
	FailMode       bool           `json:"fail_mode"`
	// Limit names the bound that decided this event by the fail mode
	// (LimitMaxMembers, LimitDecisionTimeout); "" when none did.
	// A membership event over the member cap carries LimitMaxMembers and its
	// first MaxMembers members.
	Limit string     `json:"limit,omitempty"`
	Stats []StatRead `json:"stats,omitempty"` // the statistics the rules read
	// The non-zero values of the policy's statistics the rules did not
	// read, and the names of the statistics the policy reads (schema 2):
	// with Stats, every statistic the ingress held for this request.
	StatsUnread []StatRead `json:"stats_unread,omitempty"`
	StatsKnown  []string   `json:"stats_known,omitempty"`

	// Membership events only: JoinType (Apply, Invited) or ExitType (Kicked, Quit).
	ChangeType string `json:"change_type,omitempty"`

	Platform   string     `json:"platform,omitempty"`
	ClientIP   string     `json:"client_ip,omitempty"`
	EventTime  *time.Time `json:"event_time,omitempty"` // IM's EventTime; absent when IM sent none
	ReceivedAt time.Time  `json:"received_at"`          // when the ingress read the request
	DecidedAt  time.Time  `json:"decided_at"`           // when the answer was ready
}

// NewEventID returns a new UUIDv7 event id: unique, and ordered by time.
func NewEventID() string {
	id, err := uuid.NewV7()
	if err != nil { // only when the system's random source fails
		return uuid.NewString()
	}
	return id.String()
}

// NewInviteEvent records a decided invite callback.
func NewInviteEvent(r *Request, d *Decision, receivedAt, decidedAt time.Time) Event {
	ev := Event{
		Schema:         SchemaVersion,
		ID:             NewEventID(),
		Kind:           KindInvite,
		App:            r.App,
		Command:        CommandBeforeInviteJoinGroup,
		GroupID:        r.GroupID,
		GroupType:      r.GroupType,
		Operator:       r.Operator,
		Members:        r.Members,
		Outcome:        d.Outcome,
		Refused:        d.Refused,
		ErrorCode:      d.ErrorCode,
		ErrorInfo:      d.ErrorInfo,
		RejectRule:     d.RejectRule,
		Shadow:         d.Shadow,
		PolicyRevision: d.Revision,
		FailMode:       d.FailMode,
		Limit:          d.Limit,
		Stats:          d.Stats,
		StatsUnread:    d.StatsUnread,
		StatsKnown:     d.StatsKnown,
		Platform:       r.Platform,
		ClientIP:       r.ClientIP,
		ReceivedAt:     receivedAt.UTC(),
		DecidedAt:      decidedAt.UTC(),
	}
	if ev.Members == nil {
		ev.Members = []string{}
	}
	ev.EventTime = eventTime(r.EventTime)
	return ev
}

// Membership is one membership callback, parsed by the ingress.
type Membership struct {
	App        string
	Command    string // CommandAfterNewMemberJoin or CommandAfterMemberExit
	GroupID    string
	GroupType  string
	Operator   string
	Members    []string // NewMemberList or ExitMemberList
	ChangeType string   // JoinType or ExitType
	Platform   string
	ClientIP   string
	EventTime  time.Time
	Limit      string // LimitMaxMembers when Members holds only the first MaxMembers
}

// NewMembershipEvent records a membership callback.
func NewMembershipEvent(m *Membership, receivedAt time.Time) Event {
	kind := KindMemberJoined
	if m.Command == CommandAfterMemberExit {
		kind = KindMemberExited
	}
	ev := Event{
		Schema:     SchemaVersion,
		ID:         NewEventID(),
		Kind:       kind,
		App:        m.App,
		Command:    m.Command,
		GroupID:    m.GroupID,
		GroupType:  m.GroupType,
		Operator:   m.Operator,
		Members:    m.Members,
		ChangeType: m.ChangeType,
		Limit:      m.Limit,
		Platform:   m.Platform,
		ClientIP:   m.ClientIP,
		ReceivedAt: receivedAt.UTC(),
		DecidedAt:  receivedAt.UTC(),
	}
	if ev.Members == nil {
		ev.Members = []string{}
	}
	ev.EventTime = eventTime(m.EventTime)
	return ev
}

// eventTime is IM's EventTime as an event records it: nil when absent or
// outside the years an event can encode (RFC 3339 stops at 9999), so that
// an absurd EventTime is recorded as absent rather than losing the event.
func eventTime(t time.Time) *time.Time {
	if t.IsZero() || !EncodableTime(t) {
		return nil
	}
	t = t.UTC()
	return &t
}

// EncodableTime reports whether an event can carry t: its year is in
// [1, 9999] (encoding/json and RFC 3339 refuse the others).
func EncodableTime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}
