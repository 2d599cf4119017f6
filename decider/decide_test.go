package decider

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testLists = `
apiVersion: invitegate/v1
lists:
  banned: [spammer1, spammer2]
  staff: [admin]
rules:
`

// setup compiles apiVersion, the test lists and rules twice: with rule
// indexing and with CEL alone. decide runs a request through both and
// requires the same decision.
type bundle struct {
	indexed, celOnly *Snapshot
}

func setup(t testing.TB, rules string) bundle {
	t.Helper()
	doc, err := ParseDocument([]byte(testLists + rules))
	require.NoError(t, err)
	indexed, err := compile(doc, 3, compileOptions{})
	require.NoError(t, err)
	celOnly, err := compile(doc, 3, compileOptions{noIndex: true})
	require.NoError(t, err)
	return bundle{indexed: indexed, celOnly: celOnly}
}

func (b bundle) decide(t testing.TB, r *Request) Decision {
	t.Helper()
	d := b.indexed.Decide(r)
	require.Equal(t, d, b.celOnly.Decide(r), "indexed and CEL-only decisions differ")
	return d
}

func req(operator string, members ...string) *Request {
	return &Request{App: "1400000001", GroupID: "@TGS#2J4SZEAEL", GroupType: "Public", Operator: operator,
		Members: members, Platform: "iOS", ClientIP: "203.0.113.7", EventTime: time.UnixMilli(1670574414123)}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules string
		req   *Request
		want  Decision
	}{
		{"allow", `
  - name: banned-operator
    reject: operator in lists.banned
  - name: banned-member
    refuse_member: member in lists.banned`,
			req("leckie", "jared", "leckie"),
			Decision{Outcome: OutcomeAllow}},
		{"reject with custom code and message", `
  - name: banned-operator
    reject: operator in lists.banned
    error_code: 10101
    error_info: "You cannot invite users right now."`,
			req("spammer1", "jared"),
			Decision{Outcome: OutcomeReject, RejectRule: "banned-operator", ErrorCode: 10101, ErrorInfo: "You cannot invite users right now."}},
		{"reject default code is 1", `
  - name: banned-operator
    reject: operator in lists.banned`,
			req("spammer2"),
			Decision{Outcome: OutcomeReject, RejectRule: "banned-operator", ErrorCode: 1}},
		{"the first matching reject rule wins", `
  - name: first
    reject: operator == "spammer1"
    error_code: 10100
  - name: second
    reject: operator in lists.banned
    error_code: 10200`,
			req("spammer1"),
			Decision{Outcome: OutcomeReject, RejectRule: "first", ErrorCode: 10100}},
		{"a later reject rule beats refuse_member rules", `
  - name: banned-member
    refuse_member: member in lists.banned
  - name: banned-operator
    reject: operator in lists.banned`,
			req("spammer1", "spammer2"),
			Decision{Outcome: OutcomeReject, RejectRule: "banned-operator", ErrorCode: 1}},
		{"refuse in request order, naming the first matching rule", `
  - name: staff
    refuse_member: member in lists.staff
  - name: banned-member
    refuse_member: member in lists.banned
  - name: spammer2-again
    refuse_member: member == "spammer2"`,
			req("leckie", "spammer2", "jared", "admin", "spammer1"),
			Decision{Outcome: OutcomePartial, Refused: []Refusal{
				{Member: "spammer2", Rule: "banned-member"}, {Member: "admin", Rule: "staff"}, {Member: "spammer1", Rule: "banned-member"}}}},
		{"a member listed twice is refused once", `
  - name: banned-member
    refuse_member: member in lists.banned`,
			req("leckie", "spammer1", "jared", "spammer1", "spammer1"),
			Decision{Outcome: OutcomePartial, Refused: []Refusal{{Member: "spammer1", Rule: "banned-member"}}}},
		{"everyone refused is still partial", `
  - name: all
    refuse_member: "true"`,
			req("leckie", "a", "b"),
			Decision{Outcome: OutcomePartial, Refused: []Refusal{{Member: "a", Rule: "all"}, {Member: "b", Rule: "all"}}}},
		{"a refuse_member rule without member refuses everyone or no one", `
  - name: ios-only-staff
    refuse_member: platform == "iOS" && !(operator in lists.staff)`,
			req("leckie", "a", "b"),
			Decision{Outcome: OutcomePartial, Refused: []Refusal{{Member: "a", Rule: "ios-only-staff"}, {Member: "b", Rule: "ios-only-staff"}}}},
		{"empty members: refuse rules have no one to refuse", `
  - name: all
    refuse_member: "true"`,
			req("leckie"),
			Decision{Outcome: OutcomeAllow}},
		{"empty members: reject rules still apply", `
  - name: empty
    reject: size(members) == 0
    error_code: 10150
    error_info: invite someone`,
			req("leckie"),
			Decision{Outcome: OutcomeReject, RejectRule: "empty", ErrorCode: 10150, ErrorInfo: "invite someone"}},
		{"shadow reject is recorded, not applied", `
  - name: trial
    reject: operator == "leckie"
    mode: shadow`,
			req("leckie", "jared"),
			Decision{Outcome: OutcomeAllow, Shadow: []ShadowEffect{{Rule: "trial", Kind: KindReject}}}},
		{"shadow rules are evaluated after an enforced reject too", `
  - name: banned-operator
    reject: operator in lists.banned
  - name: trial-reject
    reject: "true"
    mode: shadow
  - name: trial-refuse
    refuse_member: member == operator
    mode: shadow`,
			req("spammer1", "spammer1", "jared", "spammer1"),
			Decision{Outcome: OutcomeReject, RejectRule: "banned-operator", ErrorCode: 1, Shadow: []ShadowEffect{
				{Rule: "trial-reject", Kind: KindReject},
				{Rule: "trial-refuse", Kind: KindRefuseMember, Members: []string{"spammer1"}}}}},
		{"shadow refuse_member lists its members; enforced rules still apply", `
  - name: no-self-invite
    refuse_member: member == operator || member in lists.staff
    mode: shadow
  - name: banned-member
    refuse_member: member in lists.banned`,
			req("leckie", "jared", "leckie", "spammer1", "admin", "leckie"),
			Decision{Outcome: OutcomePartial, Refused: []Refusal{{Member: "spammer1", Rule: "banned-member"}},
				Shadow: []ShadowEffect{{Rule: "no-self-invite", Kind: KindRefuseMember, Members: []string{"leckie", "admin"}}}}},
		{"shadow effects are in document order", `
  - name: trial-refuse
    refuse_member: member == operator
    mode: shadow
  - name: trial-reject
    reject: operator == "leckie"
    mode: shadow`,
			req("leckie", "leckie"),
			Decision{Outcome: OutcomeAllow, Shadow: []ShadowEffect{
				{Rule: "trial-refuse", Kind: KindRefuseMember, Members: []string{"leckie"}}, {Rule: "trial-reject", Kind: KindReject}}}},
		{"a shadow rule that matches no one leaves no trace", `
  - name: trial
    refuse_member: member == "nobody"
    mode: shadow`,
			req("leckie", "jared"),
			Decision{Outcome: OutcomeAllow}},
		{"a failing reject rule counts as not matched", `
  - name: third-member
    reject: members[2] == "x"
  - name: banned-operator
    reject: operator in lists.banned`,
			req("spammer1", "a"),
			Decision{Outcome: OutcomeReject, RejectRule: "banned-operator", ErrorCode: 1, RuleErrors: []string{"third-member"}}},
		{"a refuse_member rule failing for some members is named once", `
  - name: numeric
    refuse_member: int(member) > 100
  - name: banned-member
    refuse_member: member in lists.banned`,
			req("leckie", "7", "spammer1", "101", "jared"),
			Decision{Outcome: OutcomePartial, Refused: []Refusal{{Member: "spammer1", Rule: "banned-member"}, {Member: "101", Rule: "numeric"}},
				RuleErrors: []string{"numeric"}}},
		{"errors are absorbed as in CEL: false && error is false", `
  - name: absorbed
    refuse_member: member in lists.banned && int(member) > 0`,
			req("leckie", "jared"),
			Decision{Outcome: OutcomeAllow}},
		{"true || error is true", `
  - name: absorbed
    refuse_member: int(member) > 0 || member == "jared"`,
			req("leckie", "jared", "5"),
			Decision{Outcome: OutcomePartial, Refused: []Refusal{{Member: "jared", Rule: "absorbed"}, {Member: "5", Rule: "absorbed"}}}},
		{"errors are listed in document order", `
  - name: b-fails
    reject: int(operator) > 0
  - name: a-fails
    refuse_member: int(member) > 0
    mode: shadow`,
			req("leckie", "jared"),
			Decision{Outcome: OutcomeAllow, RuleErrors: []string{"b-fails", "a-fails"}}},
		{"every variable", `
  - name: everything
    reject: >
      app == "1400000001" && group.id == "@TGS#2J4SZEAEL" && group.type == "Public" &&
      platform == "iOS" && client_ip.startsWith("203.0.113.") && "jared" in members &&
      event_time == timestamp("2022-12-09T08:26:54.123Z")`,
			req("leckie", "jared"),
			Decision{Outcome: OutcomeReject, RejectRule: "everything", ErrorCode: 1}},
		{"platform is compared exactly", `
  - name: ios
    reject: platform == "ios"`,
			req("leckie"),
			Decision{Outcome: OutcomeAllow}},
		{"absent platform and event time", `
  - name: absent
    reject: platform == "" && client_ip == "" && event_time == timestamp("0001-01-01T00:00:00Z")`,
			&Request{Operator: "leckie"},
			Decision{Outcome: OutcomeReject, RejectRule: "absent", ErrorCode: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.rules)
			tt.want.Revision = 3
			require.Equal(t, tt.want, b.decide(t, tt.req))
		})
	}
}

func TestDecideNilRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, "  - name: a\n    refuse_member: \"true\"\n")
	require.Equal(t, Decision{Outcome: OutcomeAllow, Revision: 3}, b.decide(t, nil))
}

// Many members, most of them refused: de-duplication switches from a scan
// to a map without changing the answer.
func TestDecideLongMemberList(t *testing.T) {
	t.Parallel()
	b := setup(t, `
  - name: not-staff
    refuse_member: "!(member in lists.staff)"
  - name: trial
    refuse_member: member != "admin"
    mode: shadow`)
	var members, want []string
	for i := range 300 {
		m := string(rune('a'+i%26)) + string(rune('a'+i/26))
		members = append(members, m, "admin", m)
		want = append(want, m)
	}
	d := b.decide(t, req("leckie", members...))
	require.Equal(t, want, d.RefusedMembers())
	require.Equal(t, []ShadowEffect{{Rule: "trial", Kind: KindRefuseMember, Members: want}}, d.Shadow)
}

// A 1,000,000-entry list: lookups are exact at both ends and outside it.
func TestDecideLargeList(t *testing.T) {
	t.Parallel()
	doc := benchPolicy(t)
	s, err := Compile(doc, 9)
	require.NoError(t, err)
	require.Equal(t, benchListSize, s.ListSize("banned"))
	d := s.Decide(req("op", "user0000000", "user1000000", "guest", "user0999999", "user0500000x"))
	require.Equal(t, []string{"user0000000", "user0999999"}, d.RefusedMembers())
	d = s.Decide(req("user0000001", "jared"))
	require.Equal(t, "banned-operator", d.RejectRule)
	require.Equal(t, 10101, d.ErrorCode)
}

func TestEngine(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1700000000, 0)
	now := func() time.Time { clock = clock.Add(5 * time.Microsecond); return clock }
	closed := NewEngine(FailClosed, now)
	require.Equal(t, Decision{Outcome: OutcomeReject, ErrorCode: 1, RejectRule: FailModeRule, FailMode: true}, closed.Decide(req("a", "b")))
	open := NewEngine("", now)
	require.Equal(t, FailOpen, open.FailMode())
	require.Equal(t, Decision{Outcome: OutcomeAllow, FailMode: true}, open.Decide(req("a", "b")))

	b := setup(t, "  - name: banned-member\n    refuse_member: member in lists.banned\n")
	closed.Load(b.indexed)
	require.Same(t, b.indexed, closed.Snapshot())
	d := closed.Decide(req("a", "spammer1"))
	require.Equal(t, Decision{Outcome: OutcomePartial, Refused: []Refusal{{Member: "spammer1", Rule: "banned-member"}},
		Revision: 3, EvalTime: 5 * time.Microsecond}, d)
}

// The shipped example policy, with the seed's sample request.
func TestExamplePolicy(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/example.yaml")
	require.NoError(t, err)
	doc, err := ParseDocument(data)
	require.NoError(t, err)
	s, err := Compile(doc, 1)
	require.NoError(t, err)

	seed := req("leckie", "jared", "leckie")
	require.Equal(t, Decision{Outcome: OutcomeAllow, Revision: 1,
		Shadow: []ShadowEffect{{Rule: "no-self-invite", Kind: KindRefuseMember, Members: []string{"leckie"}}}}, s.Decide(seed))

	d := s.Decide(req("spammer1", "jared"))
	require.Equal(t, "banned-operator", d.RejectRule)
	require.Equal(t, 10101, d.ErrorCode)
	require.Equal(t, "You cannot invite users right now.", d.ErrorInfo)

	community := req("jared", "leckie")
	community.GroupType = "Community"
	require.Equal(t, "community-staff-only", s.Decide(community).RejectRule)

	rest := req("admin", "scam-bot-7", "support", "jared")
	rest.Platform = "RESTAPI"
	require.Equal(t, []Refusal{{Member: "scam-bot-7", Rule: "banned-member"}, {Member: "support", Rule: "no-staff-via-rest"}}, s.Decide(rest).Refused)
}

// A snapshot is shared by every request: concurrent decisions agree with
// sequential ones (run with -race).
func TestDecideConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, `
  - name: banned-member
    refuse_member: member in lists.banned || int(member) > 5
  - name: trial
    refuse_member: member.matches("^a")
    mode: shadow`)
	reqs := []*Request{req("x", "spammer1", "admin", "7"), req("y", "a1", "3"), req("z")}
	want := make([]Decision, len(reqs))
	for i, r := range reqs {
		want[i] = b.decide(t, r)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				r := (g + i) % len(reqs)
				assert.Equal(t, want[r], b.indexed.Decide(reqs[r]))
			}
		})
	}
	wg.Wait()
}
