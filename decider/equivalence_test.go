package decider

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The indexed path (native predicates, member-independent parts once per
// request, memoised lookups) must decide exactly as CEL alone: generated
// policies of every recognised shape, mixed with CEL-only and failing
// sub-expressions, over generated requests.
func TestIndexedEqualsCELOnly(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2, 7))
	for p := range 300 {
		doc := genDocument(rng)
		indexed, err := compile(doc, 1, compileOptions{costBudget: math.MaxUint64})
		require.NoError(t, err, "policy %d: %+v", p, doc.Rules)
		celOnly, err := compile(doc, 1, compileOptions{noIndex: true, costBudget: math.MaxUint64})
		require.NoError(t, err)
		for range 40 {
			r := genRequest(rng)
			require.Equal(t, celOnly.Decide(r), indexed.Decide(r), "policy %d %+v\nrequest %+v", p, doc.Rules, r)
		}
	}
}

var genValues = []string{"a", "b", "c", "admin", "spammer1", "", "10", "x-1", "Public", "iOS"}

// genDocument generates a policy of one to six rules (reject or
// refuse_member, some in shadow mode) over fixed lists.
func genDocument(rng *rand.Rand) *Document {
	g := &exprGen{rng: rng}
	doc := &Document{APIVersion: APIVersion, Lists: map[string][]string{
		"banned": {"spammer1", "b", "10"}, "staff": {"admin", "a"}, "empty": {},
		"big": append([]string{"c", "x-1"}, genNames(40)...),
	}}
	for i := range 1 + rng.IntN(6) {
		r := RuleSpec{Name: fmt.Sprintf("r%d", i)}
		if rng.IntN(2) == 0 {
			r.Reject = g.expr(false, 3)
		} else {
			r.RefuseMember = g.expr(true, 3)
		}
		if rng.IntN(3) == 0 {
			r.Mode = ModeShadow
		}
		doc.Rules = append(doc.Rules, r)
	}
	return doc
}

func genNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%d", i)
	}
	return out
}

func genRequest(rng *rand.Rand) *Request {
	pick := func() string { return genValues[rng.IntN(len(genValues))] }
	members := make([]string, rng.IntN(9))
	for i := range members {
		members[i] = pick()
	}
	if rng.IntN(10) == 0 {
		members = nil
	}
	return &Request{App: pick(), GroupID: pick(), GroupType: pick(), Operator: pick(), Members: members,
		Platform: pick(), ClientIP: pick(), EventTime: time.UnixMilli(rng.Int64N(2e12))}
}

// exprGen writes random bool CEL expressions over the rule variables.
type exprGen struct {
	rng *rand.Rand
}

func (g *exprGen) str(member bool) string {
	ops := []string{"operator", "platform", "app", "client_ip", "group.id", "group.type", `group["type"]`}
	if member {
		ops = append(ops, "member", "member", "member")
	}
	if g.rng.IntN(3) == 0 {
		return fmt.Sprintf("%q", genValues[g.rng.IntN(len(genValues))])
	}
	return ops[g.rng.IntN(len(ops))]
}

func (g *exprGen) expr(member bool, depth int) string {
	if depth > 0 && g.rng.IntN(3) > 0 {
		switch g.rng.IntN(4) {
		case 0:
			return "!(" + g.expr(member, depth-1) + ")"
		case 1:
			return "(" + g.expr(member, depth-1) + " && " + g.expr(member, depth-1) + ")"
		case 2:
			return "(" + g.expr(member, depth-1) + " || " + g.expr(member, depth-1) + ")"
		default:
			return "(" + g.expr(member, depth-1) + " ? " + g.expr(member, depth-1) + " : " + g.expr(member, depth-1) + ")"
		}
	}
	return g.leaf(member)
}

func (g *exprGen) leaf(member bool) string {
	lists := []string{"lists.banned", "lists.staff", "lists.empty", `lists["big"]`}
	s := func() string { return g.str(member) }
	leaves := []func() string{
		func() string { return s() + " in " + lists[g.rng.IntN(len(lists))] },
		func() string { return s() + " == " + s() },
		func() string { return s() + " != " + s() },
		func() string { return s() + ".startsWith(" + s() + ")" },
		func() string { return s() + ".endsWith(" + s() + ")" },
		func() string { return s() + ".contains(" + s() + ")" },
		func() string { return s() + ` in ["a", "admin", ""]` },
		func() string { return []string{"true", "false"}[g.rng.IntN(2)] },
		// CEL-only shapes, some of which fail on some inputs.
		func() string { return fmt.Sprintf("size(members) > %d", g.rng.IntN(5)) },
		func() string { return s() + " in members" },
		func() string { return fmt.Sprintf("members[%d] == %s", g.rng.IntN(4), s()) },
		func() string { return "int(" + s() + ") > 5" },
		func() string { return s() + `.matches("^[ab]")` },
		func() string { return "members.exists(m, m == " + s() + ")" },
		func() string { return "members.all(member, member != " + s() + ")" },
		func() string { return "size(" + lists[g.rng.IntN(len(lists))] + ") > 2" },
		func() string { return `event_time > timestamp("2020-01-01T00:00:00Z")` },
		func() string { return s() + ".lowerAscii() == " + strings.ToLower(s()) },
	}
	return leaves[g.rng.IntN(len(leaves))]()
}
