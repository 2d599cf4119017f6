package decider

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// policy builds a valid-header document around rules, with two lists.
func policy(rules ...RuleSpec) *Document {
	return &Document{
		APIVersion: APIVersion,
		Lists:      map[string][]string{"banned": {"spammer1", "spammer2"}, "staff": {"admin"}},
		Rules:      rules,
	}
}

func TestCompileProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  *Document
		want []string
	}{
		{"nil document", nil, []string{"no document"}},
		{"missing apiVersion", &Document{}, []string{`apiVersion: required (want "invitegate/v1")`}},
		{"wrong apiVersion", &Document{APIVersion: "invitegate/v2"}, []string{`apiVersion: must be "invitegate/v1", got "invitegate/v2"`}},
		{"bad list names", &Document{APIVersion: APIVersion, Lists: map[string][]string{"my-list": nil, "in": nil, "ok_1": nil}}, []string{
			`lists: list name "in": must be an identifier ([A-Za-z_][A-Za-z0-9_]*, not a CEL keyword) so rules can write lists.NAME`,
			`lists: list name "my-list": must be an identifier ([A-Za-z_][A-Za-z0-9_]*, not a CEL keyword) so rules can write lists.NAME`,
		}},
		{"name required", policy(RuleSpec{Reject: "true"}), []string{"rules[0]: name: required"}},
		{"name syntax", policy(RuleSpec{Name: "Banned_Op", Reject: "true"}),
			[]string{`rule "Banned_Op" (rules[0]): name: must match [a-z0-9-]+ (lower-case letters, digits and '-')`}},
		{"duplicate names", policy(RuleSpec{Name: "a", Reject: "true"}, RuleSpec{Name: "b", Reject: "true"}, RuleSpec{Name: "a", RefuseMember: "true"}),
			[]string{`rule "a" (rules[2]): name: duplicate: rules[0] has the same name`}},
		{"no expression", policy(RuleSpec{Name: "a"}), []string{`rule "a" (rules[0]): needs a reject or a refuse_member expression`}},
		{"both expressions", policy(RuleSpec{Name: "a", Reject: "true", RefuseMember: "true"}),
			[]string{`rule "a" (rules[0]): has both reject and refuse_member: a rule is exactly one of them`}},
		{"bad mode", policy(RuleSpec{Name: "a", Reject: "true", Mode: "dry-run"}),
			[]string{`rule "a" (rules[0]): mode: must be "enforce" (the default) or "shadow", got "dry-run"`}},
		{"error code below range", policy(RuleSpec{Name: "a", Reject: "true", ErrorCode: 10099}),
			[]string{`rule "a" (rules[0]): error_code: 10099 is out of range: use 1 (IM's generic error) or 10100..10200`}},
		{"error code above range", policy(RuleSpec{Name: "a", Reject: "true", ErrorCode: 10201}),
			[]string{`rule "a" (rules[0]): error_code: 10201 is out of range: use 1 (IM's generic error) or 10100..10200`}},
		{"negative error code", policy(RuleSpec{Name: "a", Reject: "true", ErrorCode: -1}),
			[]string{`rule "a" (rules[0]): error_code: -1 is out of range: use 1 (IM's generic error) or 10100..10200`}},
		{"error fields on refuse_member", policy(RuleSpec{Name: "a", RefuseMember: "true", ErrorCode: 10101, ErrorInfo: "x"}), []string{
			`rule "a" (rules[0]): error_code: only allowed on reject rules (a refused member is answered with ErrorCode 0)`,
			`rule "a" (rules[0]): error_info: only allowed on reject rules (IM shows no message for a refused member)`,
		}},
		{"syntax error", policy(RuleSpec{Name: "a", Reject: "operator in"}), []string{
			`rule "a" (rules[0]): reject: 1:12: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}`,
		}},
		{"undefined variable", policy(RuleSpec{Name: "a", RefuseMember: `membr == "x"`}),
			[]string{`rule "a" (rules[0]): refuse_member: 1:1: undeclared reference to 'membr'`}},
		{"type error", policy(RuleSpec{Name: "a", Reject: `operator == 1`}),
			[]string{`rule "a" (rules[0]): reject: 1:10: found no matching overload for '_==_' applied to '(string, int)'`}},
		{"not bool", policy(RuleSpec{Name: "a", Reject: `size(members)`}),
			[]string{`rule "a" (rules[0]): reject: must be a bool expression, got int`}},
		{"member in reject", policy(RuleSpec{Name: "a", Reject: `member == operator`}),
			[]string{`rule "a" (rules[0]): reject: member is only available in refuse_member rules (a reject rule decides the whole request; use members for the invited list)`}},
		{"undefined list", policy(RuleSpec{Name: "banned-member", RefuseMember: `member in lists.bannd || member in lists["bannd"]`}),
			[]string{`rule "banned-member" (rules[0]): refuse_member: undefined list "bannd" (defined: banned, staff)`}},
		{"undefined list, none defined", &Document{APIVersion: APIVersion, Rules: []RuleSpec{{Name: "a", Reject: `operator in lists.x`}}},
			[]string{`rule "a" (rules[0]): reject: undefined list "x" (no lists are defined)`}},
		{"unknown group field", policy(RuleSpec{Name: "a", Reject: `group.kind == "Public"`}),
			[]string{`rule "a" (rules[0]): reject: group has no field "kind" (fields: id, type)`}},
		{"list used as a list", policy(RuleSpec{Name: "a", Reject: `lists.banned[0] == operator`}),
			[]string{`rule "a" (rules[0]): reject: 1:13: found no matching overload for '_[_]' applied to '(stringset, int)'`}},
		{"invalid regular expression", policy(RuleSpec{Name: "a", RefuseMember: `false && member.matches("[")`}),
			[]string{"rule \"a\" (rules[0]): refuse_member: error parsing regexp: missing closing ]: `[`"}},
		{"every problem at once", &Document{APIVersion: "v1", Rules: []RuleSpec{
			{Name: "x", Reject: "member in lists.nope", ErrorCode: 7},
			{Name: "x", RefuseMember: "1 +", Mode: "off"},
		}}, []string{
			`apiVersion: must be "invitegate/v1", got "v1"`,
			`rule "x" (rules[0]): error_code: 7 is out of range: use 1 (IM's generic error) or 10100..10200`,
			`rule "x" (rules[0]): reject: member is only available in refuse_member rules (a reject rule decides the whole request; use members for the invited list)`,
			`rule "x" (rules[0]): reject: undefined list "nope" (no lists are defined)`,
			`rule "x" (rules[1]): name: duplicate: rules[0] has the same name`,
			`rule "x" (rules[1]): mode: must be "enforce" (the default) or "shadow", got "off"`,
			`rule "x" (rules[1]): refuse_member: 1:4: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Compile(tt.doc, 1)
			require.Nil(t, s)
			require.ErrorIs(t, err, ErrInvalidPolicy)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.want, problemStrings(ve))
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := Compile(policy(RuleSpec{Name: "a", Reject: "true", ErrorCode: 2}), 1)
	require.EqualError(t, err, `invalid policy: rule "a" (rules[0]): error_code: 2 is out of range: use 1 (IM's generic error) or 10100..10200`)
	_, err = Compile(&Document{Rules: []RuleSpec{{Reject: "true"}}}, 1)
	require.EqualError(t, err, `invalid policy (2 problems): apiVersion: required (want "invitegate/v1"); rules[0]: name: required`)
}

// Valid shapes that look like mistakes but are not.
func TestCompileAccepts(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		`members.exists(member, member == "x")`, // member bound by the comprehension, not the variable
		`has(group.kind)`,                       // a presence test never fails
		`has(lists.maybe)`,                      // nor here
		`size(lists.banned) > 1 && lists.staff.size() == 1`,
		`event_time > timestamp("2020-01-01T00:00:00Z") && platform.lowerAscii() == "web"`,
		`client_ip.startsWith("10.") && app == "1400000000"`,
	} {
		_, err := Compile(policy(RuleSpec{Name: "a", Reject: expr}), 1)
		require.NoError(t, err, expr)
	}
	_, err := Compile(&Document{APIVersion: APIVersion}, 1)
	require.NoError(t, err, "a policy without rules allows everyone")
}

func TestSnapshotAccessors(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/example.yaml")
	require.NoError(t, err)
	doc, err := ParseDocument(data)
	require.NoError(t, err)
	doc.Lists["staff"] = append(doc.Lists["staff"], "admin") // duplicates count once
	s, err := Compile(doc, 42)
	require.NoError(t, err)

	require.Equal(t, uint64(42), s.Revision())
	require.Same(t, doc, s.Document())
	require.Equal(t, []RuleInfo{
		{Name: "banned-operator", Kind: KindReject, Mode: ModeEnforce},
		{Name: "community-staff-only", Kind: KindReject, Mode: ModeEnforce},
		{Name: "banned-member", Kind: KindRefuseMember, Mode: ModeEnforce},
		{Name: "no-staff-via-rest", Kind: KindRefuseMember, Mode: ModeEnforce},
		{Name: "no-self-invite", Kind: KindRefuseMember, Mode: ModeShadow},
	}, s.Rules())
	require.Equal(t, 2, s.ListSize("staff"))
	require.Equal(t, 2, s.ListSize("banned_members"))
	require.Equal(t, -1, s.ListSize("nope"))
}
