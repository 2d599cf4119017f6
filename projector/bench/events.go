package bench

import (
	"fmt"
	"strconv"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// SyntheticInvite returns the i-th synthetic invite event received at `at`:
// 2 members, one in ten partial, one in twenty rejected, some shadow
// effects, 3 apps, 4 group types, 6 platforms, 10,000 operators.
func SyntheticInvite(i int, at time.Time) decider.Event {
	s := strconv.Itoa(i)
	ev := decider.Event{
		Schema: decider.SchemaVersion, ID: decider.NewEventID(), Kind: decider.KindInvite,
		App: "14000000" + strconv.Itoa(i%3), Command: decider.CommandBeforeInviteJoinGroup,
		GroupID: "@TGS#" + strconv.Itoa(i%50000), GroupType: groupTypes[i%len(groupTypes)],
		Operator: "op" + strconv.Itoa((i*7919)%10000), Members: []string{"u" + s + "a", "u" + s + "b"},
		Outcome: decider.OutcomeAllow, PolicyRevision: 7, Platform: platforms[i%len(platforms)],
		ClientIP: "10.0.0.1", ReceivedAt: at, DecidedAt: at.Add(200 * time.Microsecond),
	}
	et := at.Add(-15 * time.Millisecond)
	ev.EventTime = &et
	switch {
	case i%10 == 1:
		ev.Outcome = decider.OutcomePartial
		ev.Refused = []decider.Refusal{{Member: ev.Members[1], Rule: fmt.Sprintf("rule-%d", (i/10)%5)}}
	case i%20 == 2:
		ev.Outcome, ev.RejectRule, ev.ErrorCode = decider.OutcomeReject, fmt.Sprintf("reject-%d", i%3), 10101
	case i%7 == 3:
		ev.Shadow = []decider.ShadowEffect{{Rule: "shadow-flood", Kind: "reject"}}
	}
	return ev
}

var (
	groupTypes = []string{"Public", "Private", "ChatRoom", "Community"}
	platforms  = []string{"iOS", "Android", "Web", "RESTAPI", "Windows", "Mac"}
)
