package decider

import (
	"fmt"
	"time"
)

// Bounds on what a callback may carry. IM documents UserIDs of at most 32
// bytes, custom GroupIds of printable ASCII under 48 bytes, short group
// types and platform names; the limits below leave a wide margin over
// those and stay far under what PostgreSQL can index (about 2,700 bytes
// per B-tree entry, several of these fields sharing one rollup key). The
// ingress answers 400 past them; the projector dead-letters an event past
// them alone (Event.CheckLengths).
const (
	MaxGroupIDBytes    = 256 // GroupId
	MaxAccountBytes    = 256 // Operator_Account, Member_Account
	MaxGroupTypeBytes  = 64  // Type
	MaxPlatformBytes   = 64  // OptPlatform
	MaxClientIPBytes   = 64  // ClientIP (an IPv6 address is at most 45)
	MaxChangeTypeBytes = 64  // JoinType, ExitType
	MaxAppBytes        = 64  // SdkAppid (checked against the configured one); the app token of a policy subject, which the compactor names an object after
	MaxCommandBytes    = 128 // CallbackCommand
	MaxLimitBytes      = 64  // an event's limit (the names in Limits are far shorter)
)

// DefaultMaxMembers is the default member cap: the most members one
// callback may carry before the fail mode answers it. IM's add_group_member
// takes at most 300 (older documents say 20 or 100), and a client invites
// fewer; 1,000 leaves a margin. It is also the highest cap an ingress may
// run with: rules are costed at it (see Limits), so that every replica and
// `policy check` agree on which policies are acceptable.
const DefaultMaxMembers = 1000

// Limit names: why the fail mode decided a callback that had a policy.
const (
	LimitMaxMembers      = "max_members"      // more members than the cap
	LimitDecisionTimeout = "decision_timeout" // the decision ran past its timeout
)

// Limits lists every Limit name (for metrics).
var Limits = []string{LimitMaxMembers, LimitDecisionTimeout}

// DefaultRuleCostBudget is the most a rule may cost on one request, in
// cel-go cost units, as estimated at DefaultMaxMembers members of
// MaxAccountBytes each (a refuse_member rule runs once per member, so its
// estimate is multiplied by the cap). A unit measures at about 6 ns on
// the quadratic rule this budget exists to refuse (41 million units at the
// cap), so a rule within budget runs in milliseconds at worst.
//
// At run time the estimate is made to hold: a request with more than
// DefaultMaxMembers members is not decided by the policy (Limit
// LimitMaxMembers), and the decision timeout bounds the rest. Not
// cel.CostLimit: cel-go's cost tracker (v0.31) keeps a stack that grows
// by one entry per comprehension step and is searched linearly on each
// step, so tracking turns a linear `members.exists(...)` quadratic
// (measured: 20,000 members 0.97 s tracked against 5.6 ms untracked). The
// estimate at compile time, the member cap and the interruptible deadline
// bound the same work without that cost.
const DefaultRuleCostBudget = 1_000_000

// DefaultDecisionTimeout bounds one decision: past it the fail mode
// answers. A decision normally takes microseconds; IM waits 2 s.
const DefaultDecisionTimeout = 100 * time.Millisecond

// CheckLengths reports the first string of ev longer than the bounds above
// (by the name of its JSON field), or nil.
func (ev *Event) CheckLengths() error {
	for _, f := range [...]struct {
		name string
		v    string
		max  int
	}{
		{"app", ev.App, MaxAppBytes}, {"command", ev.Command, MaxCommandBytes},
		{"group_id", ev.GroupID, MaxGroupIDBytes}, {"group_type", ev.GroupType, MaxGroupTypeBytes},
		{"operator", ev.Operator, MaxAccountBytes}, {"change_type", ev.ChangeType, MaxChangeTypeBytes},
		{"platform", ev.Platform, MaxPlatformBytes}, {"client_ip", ev.ClientIP, MaxClientIPBytes},
		{"limit", ev.Limit, MaxLimitBytes},
	} {
		if len(f.v) > f.max {
			return fmt.Errorf("event %q: %s is %d bytes, more than %d", ev.ID, f.name, len(f.v), f.max)
		}
	}
	for i, m := range ev.Members {
		if len(m) > MaxAccountBytes {
			return fmt.Errorf("event %q: members[%d] is %d bytes, more than %d", ev.ID, i, len(m), MaxAccountBytes)
		}
	}
	for i, r := range ev.Refused {
		if len(r.Member) > MaxAccountBytes {
			return fmt.Errorf("event %q: refused[%d].member is %d bytes, more than %d", ev.ID, i, len(r.Member), MaxAccountBytes)
		}
	}
	return nil
}
