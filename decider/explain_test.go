package decider

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Explain's per-rule values, computed by whole-rule CEL programs, must
// account for the decision Decide makes with the indexed rules: on
// generated policies and requests, every rejection, refusal, shadow effect
// and rule error of the decision follows from the trace.
func TestExplainAccountsForTheDecision(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 11))
	for p := range 200 {
		doc := genDocument(rng)
		// Generated rules may nest comprehensions past the cost budget; the
		// trace must explain them all the same.
		snap, err := compile(doc, 1, compileOptions{costBudget: math.MaxUint64})
		require.NoError(t, err)
		for range 20 {
			req := genRequest(rng)
			tr, err := Explain(snap, req, nil)
			require.NoError(t, err)
			require.Equal(t, snap.Decide(req), tr.Decision)
			requireTraceExplains(t, &tr, fmt.Sprintf("policy %d %+v\nrequest %+v", p, doc.Rules, req))
		}
	}
}

func requireTraceExplains(t *testing.T, tr *Trace, msg string) {
	t.Helper()
	d := &tr.Decision
	rejectRule := ""
	refusedBy := map[string]string{}
	var shadow []ShadowEffect
	for _, r := range tr.Rules {
		shadowRule := r.Mode == ModeShadow
		if r.Kind == KindReject {
			switch {
			case shadowRule && r.Result == ResultTrue:
				shadow = append(shadow, ShadowEffect{Rule: r.Name, Kind: KindReject})
			case !shadowRule && rejectRule == "" && r.Result == ResultTrue:
				rejectRule = r.Name
			}
			if r.Consulted && r.Result == ResultError {
				require.Contains(t, d.RuleErrors, r.Name, msg)
			}
			continue
		}
		var matched []string
		for _, m := range r.Members {
			if m.Result != ResultTrue {
				continue
			}
			matched = append(matched, m.Member)
			if _, done := refusedBy[m.Member]; !done && !shadowRule {
				refusedBy[m.Member] = r.Name
			}
		}
		if shadowRule && len(matched) > 0 {
			shadow = append(shadow, ShadowEffect{Rule: r.Name, Kind: KindRefuseMember, Members: matched})
		}
	}
	require.Equal(t, rejectRule, d.RejectRule, msg)
	if rejectRule == "" {
		got := map[string]string{}
		for _, rf := range d.Refused {
			got[rf.Member] = rf.Rule
		}
		require.Equal(t, refusedBy, got, msg)
	}
	// Shadow effects come in document order, refuse_member ones before
	// the reject rules that follow them only by evaluation order: compare
	// as sets.
	require.ElementsMatch(t, shadow, d.Shadow, msg)
	for _, name := range d.RuleErrors {
		i := slices.IndexFunc(tr.Rules, func(r RuleTrace) bool { return r.Name == name })
		r := tr.Rules[i]
		failed := r.Result == ResultError || slices.ContainsFunc(r.Members, func(m MemberTrace) bool { return m.Result == ResultError })
		require.True(t, failed, "%s: %s errored in the decision but not in the trace", msg, name)
	}
}

func TestExplainReadsStatistics(t *testing.T) {
	t.Parallel()
	doc, err := ParseDocument([]byte(`apiVersion: invitegate/v1
rules:
  - name: flood
    reject: stats.operator_invites_1h > 100
  - name: hot
    refuse_member: stats.member_invited_1h > 5
    mode: shadow
`))
	require.NoError(t, err)
	snap, err := Compile(doc, 3)
	require.NoError(t, err)
	src := statsMap{"operator_invites_1h/op": 101, "member_invited_1h/b": 6}
	tr, err := Explain(snap, &Request{Operator: "op", Members: []string{"a", "b", "a"}, EventTime: time.Unix(1, 0)}, src)
	require.NoError(t, err)
	require.Equal(t, "flood", tr.Decision.RejectRule)
	require.Equal(t, "rejected the request", tr.Rules[0].Effect)
	require.Equal(t, []MemberTrace{{Member: "a", Result: ResultFalse}, {Member: "b", Result: ResultTrue}}, tr.Rules[1].Members,
		"each member once; shadow rules are traced on a rejected request too")
	require.True(t, tr.Rules[1].Consulted)
	require.Equal(t, "would refuse (shadow)", tr.Rules[1].Effect)
}

type statsMap map[string]int64

func (m statsMap) Stat(st Stat, _ string, key string) int64 { return m[st.String()+"/"+key] }
