package projector_test

import (
	"fmt"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// base is the receive time of the test events, at PostgreSQL's precision.
var base = time.Now().UTC().Truncate(time.Microsecond)

// invite returns the i-th test invite event. It cycles through allow,
// partial, reject, shadow effects and fail mode, two apps, three group
// types and 13 operators, with 2 members each.
func invite(i int) decider.Event {
	at := base.Add(-time.Duration(i%5000) * time.Second)
	eventTime := at.Add(-20 * time.Millisecond).Truncate(time.Millisecond)
	ev := decider.Event{
		Schema: decider.SchemaVersion, ID: decider.NewEventID(), Kind: decider.KindInvite,
		App: fmt.Sprintf("14000000%02d", i%2), Command: decider.CommandBeforeInviteJoinGroup,
		GroupID: fmt.Sprintf("@TGS#g%d", i%7), GroupType: []string{"Public", "Private", "ChatRoom"}[i%3],
		Operator: fmt.Sprintf("op%d", i%13), Members: []string{fmt.Sprintf("m%da", i), fmt.Sprintf("m%db", i)},
		Outcome: decider.OutcomeAllow, PolicyRevision: 7, Platform: []string{"iOS", "Android", "RESTAPI"}[i%3],
		ClientIP: "10.0.0.1", EventTime: &eventTime, ReceivedAt: at, DecidedAt: at.Add(300 * time.Microsecond),
	}
	switch i % 5 {
	case 1:
		ev.Outcome = decider.OutcomePartial
		ev.Refused = []decider.Refusal{{Member: ev.Members[1], Rule: "banned-member"}}
	case 2:
		ev.Outcome, ev.RejectRule, ev.ErrorCode, ev.ErrorInfo = decider.OutcomeReject, "banned-operator", 10101, "not now"
	case 3:
		ev.Shadow = []decider.ShadowEffect{
			{Rule: "shadow-flood", Kind: "reject"},
			{Rule: "shadow-member", Kind: "refuse_member", Members: []string{ev.Members[0]}},
		}
	case 4:
		ev.FailMode, ev.PolicyRevision, ev.EventTime = true, 0, nil
	}
	return ev
}

func invites(n int) []decider.Event {
	evs := make([]decider.Event, n)
	for i := range evs {
		evs[i] = invite(i)
	}
	return evs
}

// membership returns a membership event of kind.
func membership(i int, kind string) decider.Event {
	m := &decider.Membership{
		App: "1400000000", Command: decider.CommandAfterNewMemberJoin, GroupID: fmt.Sprintf("@TGS#g%d", i),
		GroupType: "Public", Operator: "admin", Members: []string{"x", "y", "z"}, ChangeType: "Invited",
		Platform: "RESTAPI", ClientIP: "10.0.0.2", EventTime: base.Add(-time.Second).Truncate(time.Millisecond),
	}
	if kind == decider.KindMemberExited {
		m.Command, m.ChangeType, m.Members = decider.CommandAfterMemberExit, "Kicked", []string{"x"}
	}
	return decider.NewMembershipEvent(m, base)
}
