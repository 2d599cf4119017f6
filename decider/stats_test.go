package decider

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mapStats is a StatsSource over a plain map keyed by "stat/app/key".
type mapStats map[string]int64

func (m mapStats) Stat(st Stat, app, key string) int64 { return m[st.String()+"/"+app+"/"+key] }

func TestStatsCompileChecks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rule RuleSpec
		want string
	}{
		{RuleSpec{Name: "a", Reject: "stats.operator_invite_1h > 1"}, `unknown statistic stats.operator_invite_1h`},
		{RuleSpec{Name: "b", Reject: "stats.member_invited_1h > 1"}, `only available in refuse_member rules`},
		{RuleSpec{Name: "c", Reject: `stats[operator] > 1`}, `read statistics as stats.NAME`},
		{RuleSpec{Name: "d", Reject: `has(stats.group_size)`}, `read statistics as stats.NAME`},
		{RuleSpec{Name: "e", Reject: `size(stats) > 1`}, `read statistics as stats.NAME`},
	}
	for _, c := range cases {
		_, err := Compile(policy(c.rule), 1)
		require.ErrorContains(t, err, c.want, c.rule.Reject)
	}
	s, err := Compile(policy(
		RuleSpec{Name: "flood", Reject: `stats.operator_invites_1h > 200 || stats["group_size"] >= 500`},
		RuleSpec{Name: "harass", RefuseMember: `stats.member_invited_1h > 20`},
		RuleSpec{Name: "plain", Reject: `operator == "x"`},
	), 1)
	require.NoError(t, err)
	require.Equal(t, []Stat{StatOperatorInvites1h, StatMemberInvited1h, StatGroupSize}, s.Stats())
}

func TestStatsDecide(t *testing.T) {
	t.Parallel()
	b := setup(t, `
  - name: flood
    reject: stats.operator_invites_1h > 200 && !(operator in lists.staff)
  - name: harass
    refuse_member: stats.member_invited_1h > 20 || member in lists.banned
  - name: full
    mode: shadow
    reject: stats.group_size + size(members) > 500
`)
	src := mapStats{
		"operator_invites_1h/app/alice": 201, "operator_invites_1h/app/admin": 999,
		"member_invited_1h/app/bob": 21, "group_size/app/g1": 499,
	}
	r := &Request{App: "app", GroupID: "g1", Operator: "alice", Members: []string{"bob", "carol"}}
	for _, s := range []*Snapshot{b.indexed, b.celOnly} {
		d := s.DecideWith(r, src)
		require.Equal(t, OutcomeReject, d.Outcome)
		require.Equal(t, "flood", d.RejectRule)
		require.Equal(t, []ShadowEffect{{Rule: "full", Kind: KindReject}}, d.Shadow)
		require.Contains(t, d.Stats, StatRead{Stat: "operator_invites_1h", Key: "alice", Value: 201})
		require.Contains(t, d.Stats, StatRead{Stat: "group_size", Key: "g1", Value: 499})

		admin := *r
		admin.Operator = "admin"
		d = s.DecideWith(&admin, src)
		require.Equal(t, OutcomePartial, d.Outcome)
		require.Equal(t, []Refusal{{Member: "bob", Rule: "harass"}}, d.Refused)
		require.Contains(t, d.Stats, StatRead{Stat: "member_invited_1h", Key: "bob", Value: 21})
		require.Contains(t, d.Stats, StatRead{Stat: "member_invited_1h", Key: "carol", Value: 0})

		d = s.Decide(r) // no source: every statistic reads 0
		require.Equal(t, OutcomeAllow, d.Outcome)
		require.Contains(t, d.Stats, StatRead{Stat: "operator_invites_1h", Key: "alice", Value: 0})
	}
}

func TestEngineStats(t *testing.T) {
	t.Parallel()
	s, err := Compile(policy(RuleSpec{Name: "flood", Reject: `stats.operator_invites_24h >= 3`}), 7)
	require.NoError(t, err)
	e := NewEngine(FailOpen, nil)
	e.Load(s)
	r := &Request{App: "a", Operator: "o", Members: []string{"m"}}
	require.Equal(t, OutcomeAllow, e.Decide(r).Outcome)
	e.SetStats(mapStats{"operator_invites_24h/a/o": 3})
	d := e.Decide(r)
	require.Equal(t, OutcomeReject, d.Outcome)
	ev := NewInviteEvent(r, &d, time.Now(), time.Now())
	require.Equal(t, []StatRead{{Stat: "operator_invites_24h", Key: "o", Value: 3}}, ev.Stats)
	e.SetStats(nil)
	require.Equal(t, OutcomeAllow, e.Decide(r).Outcome)
}

func TestStatsWire(t *testing.T) {
	t.Parallel()
	in := []StatUpdate{
		{Stat: StatOperatorInvites1h, App: "1400", Key: "alice", Value: 201},
		{Stat: StatGroupSize, App: "", Key: "@TGS#x\x00y", Value: 0},
		{Stat: StatMemberInvited1h, App: "1400", Key: "bob", Value: -3},
	}
	msg := NewStatsMessage(nil)
	for _, u := range in {
		msg = AppendStatUpdate(msg, u)
	}
	var out []StatUpdate
	require.NoError(t, DecodeStatUpdates(msg, func(u StatUpdate) { out = append(out, u) }))
	require.Equal(t, in, out)

	for _, bad := range [][]byte{nil, {9}, msg[:len(msg)-1], append(NewStatsMessage(nil), byte(NumStats), 0, 0, 0)} {
		out = out[:0]
		require.ErrorIs(t, DecodeStatUpdates(bad, func(u StatUpdate) { out = append(out, u) }), ErrBadStatsMessage)
	}
	require.Len(t, out, 0)
	out = out[:0]
	require.ErrorIs(t, DecodeStatUpdates(msg[:len(msg)-1], func(u StatUpdate) { out = append(out, u) }), ErrBadStatsMessage)
	require.Equal(t, in[:2], out, "the records before the bad one are delivered")
}
