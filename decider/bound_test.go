package decider

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCompileRefusesCostlyRule: a rule quadratic in the members is refused
// at check time, naming the rule, on every path that compiles.
func TestCompileRefusesCostlyRule(t *testing.T) {
	t.Parallel()
	for _, r := range []RuleSpec{
		{Name: "dup-member", RefuseMember: "members.filter(m, m == member).size() > 1"},
		{Name: "nested", Reject: `members.exists(m, members.exists(n, n == m + "x"))`},
	} {
		_, err := Compile(policy(RuleSpec{Name: "fine", RefuseMember: "member in lists.banned"}, r), 1)
		require.ErrorIs(t, err, ErrInvalidPolicy)
		require.ErrorContains(t, err, `rule "`+r.Name+`"`)
		require.ErrorContains(t, err, "too costly")
		require.NotContains(t, err.Error(), `rule "fine"`)
	}
	// What a policy ordinarily says stays well within the budget.
	for _, r := range []RuleSpec{
		{Name: "a", RefuseMember: `member.matches("^[a-z]+$")`},
		{Name: "b", Reject: "members.exists(m, m.startsWith(operator))"},
		{Name: "c", RefuseMember: `group.id.startsWith("x") && member == operator`},
		{Name: "d", Reject: "size(members) > 500"},
	} {
		_, err := Compile(policy(r), 1)
		require.NoError(t, err, r.Expr())
	}
}

func manyMembers(n int) []string {
	members := make([]string, n)
	for i := range members {
		members[i] = "user-" + strconv.Itoa(i)
	}
	return members
}

// TestDecisionTimeout: a decision past its timeout stops and is answered by
// the fail mode, marked decision_timeout; without a timeout it completes.
func TestDecisionTimeout(t *testing.T) {
	t.Parallel()
	doc := policy(RuleSpec{Name: "dup-member", RefuseMember: "members.filter(m, m == member).size() > 1"})
	s, err := compile(doc, 5, compileOptions{costBudget: math.MaxUint64})
	require.NoError(t, err)
	req := &Request{App: "1", GroupID: "g", Operator: "o", Members: manyMembers(DefaultMaxMembers)}
	for _, mode := range []FailMode{FailOpen, FailClosed} {
		e := NewEngine(mode, nil)
		e.Load(s)
		e.SetDecisionTimeout(time.Millisecond)
		start := time.Now()
		d := e.Decide(req)
		elapsed := time.Since(start)
		require.Equal(t, LimitDecisionTimeout, d.Limit)
		require.True(t, d.FailMode)
		require.Equal(t, uint64(5), d.Revision)
		require.Empty(t, d.Refused)
		if mode == FailClosed {
			require.Equal(t, OutcomeReject, d.Outcome)
			require.Equal(t, FailModeRule, d.RejectRule)
		} else {
			require.Equal(t, OutcomeAllow, d.Outcome)
		}
		// Unbounded, the same decision takes far longer than the timeout
		// (about a quarter of a second): it was cut, not finished.
		require.Less(t, elapsed, time.Second, "the timeout must cut the decision short")
	}
	e := NewEngine(FailOpen, nil)
	e.Load(s)
	e.SetDecisionTimeout(-1)
	d := e.Decide(&Request{Members: []string{"a", "b", "a"}})
	require.Empty(t, d.Limit)
	require.Equal(t, []string{"a"}, d.RefusedMembers())
}

// TestDecisionTimeoutNativeLoop: the member loop of indexed rules checks the
// deadline too (a timeout already past stops it).
func TestDecisionTimeoutNativeLoop(t *testing.T) {
	t.Parallel()
	s, err := Compile(policy(RuleSpec{Name: "bots", RefuseMember: `member.startsWith("user-")`}), 2)
	require.NoError(t, err)
	d := s.decide(&Request{Members: manyMembers(100)}, nil, time.Now().Add(-time.Second))
	require.Equal(t, LimitDecisionTimeout, d.Limit)
	require.Empty(t, d.Refused)
	// The pooled evaluation is clean for the next decision.
	d = s.Decide(&Request{Members: manyMembers(100)})
	require.Empty(t, d.Limit)
	require.Len(t, d.Refused, 100)
}

// TestDecisionTimeoutInComprehension: a CEL comprehension is interrupted at
// the deadline, not only the member loops.
func TestDecisionTimeoutInComprehension(t *testing.T) {
	t.Parallel()
	s, err := compile(policy(RuleSpec{Name: "nested", Reject: `members.exists(m, members.exists(n, n == m + "x"))`}),
		1, compileOptions{costBudget: math.MaxUint64})
	require.NoError(t, err)
	start := time.Now()
	d := s.decide(&Request{Members: manyMembers(DefaultMaxMembers)}, nil, time.Now().Add(time.Millisecond))
	require.Equal(t, LimitDecisionTimeout, d.Limit)
	require.Less(t, time.Since(start), time.Second, "interrupted, not finished")
}

// TestOverCapNotDecided: rules are costed at DefaultMaxMembers, so a
// request with more (a caller that skips the ingress's --max-members) is
// not decided by the policy: the Engine answers it by the fail mode.
func TestOverCapNotDecided(t *testing.T) {
	t.Parallel()
	s, err := Compile(policy(RuleSpec{Name: "no-zz", Reject: `members.exists(m, m.endsWith("zz"))`}), 4)
	require.NoError(t, err)
	d := s.Decide(&Request{Members: manyMembers(DefaultMaxMembers)})
	require.Empty(t, d.Limit)
	e := NewEngine(FailClosed, nil)
	e.Load(s)
	d = e.Decide(&Request{Members: manyMembers(DefaultMaxMembers + 1)})
	require.Equal(t, LimitMaxMembers, d.Limit)
	require.Equal(t, OutcomeReject, d.Outcome)
	require.Equal(t, uint64(4), d.Revision)
}

// TestLimitedEvent: the limit is recorded on the event and survives the
// event codec; an EventTime no event can encode is recorded as absent.
func TestLimitedEvent(t *testing.T) {
	t.Parallel()
	e := NewEngine(FailOpen, nil)
	d := e.Limited(LimitMaxMembers)
	now := time.Now()
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := NewInviteEvent(&Request{App: "1", GroupID: "g", Operator: "o", EventTime: far}, &d, now, now)
	require.Nil(t, ev.EventTime)
	line, err := AppendEvent(nil, &ev)
	require.NoError(t, err)
	back, err := DecodeEvent(line)
	require.NoError(t, err)
	require.Equal(t, LimitMaxMembers, back.Limit)
	require.True(t, back.FailMode)

	// An event built by hand with such a time still encodes, without it.
	ev.EventTime = &far
	line, err = AppendEvent(nil, &ev)
	require.NoError(t, err)
	back, err = DecodeEvent(line)
	require.NoError(t, err)
	require.Nil(t, back.EventTime)

	m := NewMembershipEvent(&Membership{App: "1", Command: CommandAfterNewMemberJoin, GroupID: "g", EventTime: far, Limit: LimitMaxMembers}, now)
	require.Nil(t, m.EventTime)
	require.Equal(t, LimitMaxMembers, m.Limit)
}

func TestEventCheckLengths(t *testing.T) {
	t.Parallel()
	ok := Event{ID: "x", App: "1", GroupID: "g", Operator: "o", Members: []string{"a"}}
	require.NoError(t, ok.CheckLengths())
	for name, mut := range map[string]func(*Event){
		"operator":   func(e *Event) { e.Operator = string(make([]byte, MaxAccountBytes+1)) },
		"group_type": func(e *Event) { e.GroupType = string(make([]byte, MaxGroupTypeBytes+1)) },
		"platform":   func(e *Event) { e.Platform = string(make([]byte, MaxPlatformBytes+1)) },
		"members[1]": func(e *Event) { e.Members = []string{"a", string(make([]byte, MaxAccountBytes+1))} },
		"limit":      func(e *Event) { e.Limit = string(make([]byte, MaxLimitBytes+1)) },
	} {
		ev := ok
		mut(&ev)
		require.ErrorContains(t, ev.CheckLengths(), name)
	}
}
