package decider

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A decision records the values of the policy's statistics its rules did
// not read, so that a replayed candidate reading them in another order
// gets what the ingress held.
func TestDecisionRecordsUnreadStatistics(t *testing.T) {
	t.Parallel()
	doc, err := ParseDocument([]byte(`apiVersion: invitegate/v1
rules:
  - name: flood
    reject: platform == "RESTAPI" && stats.operator_invites_1h > 100
  - name: hot
    refuse_member: group.type == "Private" && stats.member_invited_1h > 5
`))
	require.NoError(t, err)
	snap, err := Compile(doc, 1)
	require.NoError(t, err)
	src := statsMap{"operator_invites_1h/op": 150, "member_invited_1h/b": 9, "group_size/g": 4}
	req := &Request{Operator: "op", GroupID: "g", GroupType: "Public", Platform: "iOS", Members: []string{"a", "b", "b"}}

	d := snap.DecideWith(req, src)
	require.Equal(t, OutcomeAllow, d.Outcome)
	require.Empty(t, d.Stats, "short-circuited: no rule read a statistic")
	require.Equal(t, []string{"operator_invites_1h", "member_invited_1h"}, d.StatsKnown)
	require.Equal(t, []StatRead{{Stat: "operator_invites_1h", Key: "op", Value: 150},
		{Stat: "member_invited_1h", Key: "b", Value: 9}}, d.StatsUnread,
		"non-zero values only, once each; group_size is not read by the policy")

	// A candidate reading them unconditionally, fed from the event alone.
	cand, err := ParseDocument([]byte(`apiVersion: invitegate/v1
rules:
  - name: hot
    refuse_member: stats.member_invited_1h > 5
  - name: size
    reject: stats.group_size > 100
    mode: shadow
`))
	require.NoError(t, err)
	candSnap, err := Compile(cand, 2)
	require.NoError(t, err)
	ev := NewInviteEvent(req, &d, req.EventTime, req.EventTime)
	var rec RecordedStats
	rec.Reset(&ev)
	replayed := candSnap.DecideWith(req, &rec)
	require.Equal(t, []Refusal{{Member: "b", Rule: "hot"}}, replayed.Refused)
	require.Equal(t, 1, rec.Unknown, "group_size was not held by the ingress")

	// With a stats read the value is in Stats, not repeated in StatsUnread.
	req.Platform = "RESTAPI"
	d = snap.DecideWith(req, src)
	require.Equal(t, "flood", d.RejectRule)
	require.Equal(t, []StatRead{{Stat: "operator_invites_1h", Key: "op", Value: 150}}, d.Stats)
	require.Equal(t, []StatRead{{Stat: "member_invited_1h", Key: "b", Value: 9}}, d.StatsUnread)

	// A policy that reads no statistics records nothing.
	plain, err := Compile(&Document{APIVersion: APIVersion, Rules: []RuleSpec{{Name: "r", Reject: "operator == 'x'"}}}, 1)
	require.NoError(t, err)
	d = plain.DecideWith(req, src)
	require.Nil(t, d.StatsKnown)
	require.Nil(t, d.StatsUnread)
}
