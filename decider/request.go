package decider

import "time"

// Commands IM sends that invitegate handles specifically.
const (
	CommandBeforeInviteJoinGroup = "Group.CallbackBeforeInviteJoinGroup"
	CommandAfterNewMemberJoin    = "Group.CallbackAfterNewMemberJoin"
	CommandAfterMemberExit       = "Group.CallbackAfterMemberExit"
)

// Request is one Group.CallbackBeforeInviteJoinGroup callback, already parsed
// and validated by the ingress.
type Request struct {
	App       string    // SdkAppid from the query string
	GroupID   string    // GroupId
	GroupType string    // Type, an open string (Public, Private, ChatRoom, ...)
	Operator  string    // Operator_Account
	Members   []string  // DestinationMembers[].Member_Account, in request order
	Platform  string    // OptPlatform, "" when absent
	ClientIP  string    // ClientIP, "" when absent
	EventTime time.Time // EventTime (ms since epoch); zero when absent
}

// Outcome is the kind of answer a decision gives.
type Outcome string

const (
	OutcomeAllow   Outcome = "allow"   // everyone may join
	OutcomePartial Outcome = "partial" // some members refused, the others join
	OutcomeReject  Outcome = "reject"  // the whole invitation is rejected
)

// DefaultRejectCode is the ErrorCode of a rejection when a rule names none:
// IM shows the inviter its generic error 10016.
const DefaultRejectCode = 1

// Refusal is one refused member and the rule that refused it (the first
// enforcing refuse_member rule, in document order, that matched the member).
type Refusal struct {
	Member string `json:"member"`
	Rule   string `json:"rule"`
}

// ShadowEffect is what a shadow rule would have done had it been enforced.
// For a reject rule Members is empty; for a refuse_member rule it lists the
// members it matched, in request order.
type ShadowEffect struct {
	Rule    string   `json:"rule"`
	Kind    string   `json:"kind"` // "reject" or "refuse_member"
	Members []string `json:"members,omitempty"`
}

// Decision is the answer for one Request.
type Decision struct {
	Outcome    Outcome
	Refused    []Refusal // request order, no duplicate members; empty unless partial
	RejectRule string    // name of the rejecting rule; "" unless reject (or fail-closed)
	ErrorCode  int       // 0, 1, or the rule's code in [10100, 10200]
	ErrorInfo  string    // shown to the inviter when ErrorCode is in [10100, 10200]
	Shadow     []ShadowEffect
	Revision   uint64 // revision of the snapshot that decided; 0 in fail mode
	FailMode   bool   // true when --fail-mode decided: no policy loaded, or a Limit was hit
	// Limit names the bound that made the fail mode decide (LimitMaxMembers,
	// LimitDecisionTimeout); "" otherwise.
	Limit    string
	EvalTime time.Duration // time spent evaluating the policy
	// RuleErrors names rules whose evaluation errored on this request (they
	// counted as not matched). Nil when none did.
	RuleErrors []string
	// Stats are the statistics the rules read (stats.NAME), in reading
	// order. Nil when the policy reads none.
	Stats []StatRead
	// StatsUnread and StatsKnown record, for replays, the non-zero values
	// of the policy's statistics the rules did not read, and the names of
	// the statistics the policy reads (statsrecord.go). Nil when the policy
	// reads none.
	StatsUnread []StatRead
	StatsKnown  []string
}

// RefusedMembers returns the refused member ids in request order.
func (d *Decision) RefusedMembers() []string {
	if len(d.Refused) == 0 {
		return nil
	}
	out := make([]string, len(d.Refused))
	for i, r := range d.Refused {
		out[i] = r.Member
	}
	return out
}
