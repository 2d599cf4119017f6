package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

const examplePolicy = "../../deploy/policy/example.yaml"

// TestExamplePolicyTests runs the tests shipped beside the example policy:
// `make test` fails when the example policy stops doing what they say.
func TestExamplePolicyTests(t *testing.T) {
	t.Parallel()
	code, out, stderr := runMain(t, nil, "policy", "test", examplePolicy, "../../deploy/policy/example_test.yaml", "--coverage")
	require.Equal(t, exitOK, code, "%s%s", out, stderr)
	require.Contains(t, out, "coverage: every rule (5) was exercised")
	require.Contains(t, out, "PASS: ")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestPolicyTestFailures(t *testing.T) {
	t.Parallel()
	tests := writeFile(t, "tests.yaml", `
cases:
  - name: passes
    request: {operator: spammer1, members: [a]}
    expect: {error_code: 10101}
  - name: wrong code
    request: {operator: spammer1, members: [a]}
    expect: {error_code: 10102}
  - name: wrong refusal
    request: {operator: alice, members: [scam-bot-7, bob], platform: RESTAPI}
    expect: {refused: [bob], rule: no-staff-via-rest}
  - name: a hot operator
    request:
      operator: alice
      members: [bob]
      client_ip: 10.0.0.1
      app: "1400000000"
      event_time: 2026-11-28T10:00:00Z
      stats: {operator_invites_1h: 500, member_invited_1h: {bob: 3}}
    expect: {outcome: allow, shadow: []}
`)
	code, out, _ := runMain(t, nil, "policy", "test", examplePolicy, tests, "--coverage")
	require.Equal(t, exitFailure, code, out)
	require.Contains(t, out, "FAIL "+tests+": wrong code\n     error_code: expected 10102, got 10101\n"+
		"     answer: reject (error_code 10101); responsible rule: banned-operator\n")
	require.Contains(t, out, "FAIL "+tests+": wrong refusal\n     rule: expected no-staff-via-rest, got banned-member\n"+
		"     refused: expected [bob], got [scam-bot-7]\n")
	require.NotContains(t, out, ": passes")
	require.NotContains(t, out, "a hot operator")
	require.Contains(t, out, "coverage: 3 of 5 rules no case exercised:\n  community-staff-only\n  no-staff-via-rest\n  no-self-invite\n")

	code, _, stderr := runMain(t, nil, "policy", "test", examplePolicy, tests, "--bogus")
	require.Equal(t, exitUsage, code, stderr)
}

func TestPolicyTestBadFiles(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ content, want string }{
		"unknown field":  {"cases:\n  - name: x\n    request: {operatr: a}\n", "field operatr not found"},
		"no cases":       {"cases: []\n", "no cases"},
		"no name":        {"cases:\n  - request: {operator: a}\n", "name is required"},
		"duplicate":      {"cases:\n  - name: a\n  - name: a\n", `duplicate name "a"`},
		"unknown stat":   {"cases:\n  - name: a\n    request: {stats: {nope: 1}}\n", "stats.nope: unknown statistic"},
		"bad stat value": {"cases:\n  - name: a\n    request: {stats: {group_size: [1]}}\n", "want an integer"},
		"bad time":       {"cases:\n  - name: a\n    request: {event_time: yesterday}\n", "event_time"},
		"bad outcome":    {"cases:\n  - name: a\n    expect: {outcome: maybe}\n", "want allow, partial or reject"},
		"not yaml":       {"cases: [\n", "yaml"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runMain(t, nil, "policy", "test", examplePolicy, writeFile(t, "t.yaml", tc.content))
			require.Equal(t, exitUsage, code, stderr)
			require.Contains(t, stderr, tc.want)
		})
	}
	code, _, stderr := runMain(t, nil, "policy", "test", examplePolicy)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "want POLICY and at least one TESTFILE")
	code, _, _ = runMain(t, nil, "policy", "test", examplePolicy, filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, exitUsage, code)
}

const explainBody = `{"CallbackCommand":"Group.CallbackBeforeInviteJoinGroup","GroupId":"@TGS#1","Type":"Public",
"Operator_Account":"alice","DestinationMembers":[{"Member_Account":"scam-bot-7"},{"Member_Account":"alice"},
{"Member_Account":"support"}],"EventTime":"1670574414123"}`

func TestPolicyExplainExample(t *testing.T) {
	t.Parallel()
	b := &cliBundle{env: map[string]string{}}
	code, out, stderr := b.run(t, explainBody, "policy", "explain", "--policy", examplePolicy, "--platform", "RESTAPI", "--app", "1400000000")
	require.Equal(t, exitOK, code, stderr)
	want := `policy:   ../../deploy/policy/example.yaml
outcome:  partial; responsible rule: banned-member,no-staff-via-rest
answer:   {"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["scam-bot-7","support"]}

rules, in document order:
#  rule                  kind           mode     value  effect
1  banned-operator       reject         enforce  false  
2  community-staff-only  reject         enforce  false  
3  banned-member         refuse_member  enforce  true   refused 1 member(s)
     member scam-bot-7                           true   refused
     member alice                                false  
     member support                              false  
4  no-staff-via-rest     refuse_member  enforce  true   refused 1 member(s)
     member scam-bot-7                           false  
     member alice                                false  
     member support                              true   refused
5  no-self-invite        refuse_member  shadow   true   would refuse (shadow)
     member scam-bot-7                           false  
     member alice                                true   
     member support                              false  
`
	require.Equal(t, want, out)

	// A rejected request: later enforcing rules are not consulted.
	code, out, stderr = b.run(t, `{"GroupId":"g","Type":"Community","Operator_Account":"spammer1","DestinationMembers":[{"Member_Account":"b"}]}`,
		"policy", "explain", "--policy", examplePolicy, "--json")
	require.Equal(t, exitOK, code, stderr)
	var tr struct {
		Outcome string          `json:"outcome"`
		Answer  json.RawMessage `json:"answer"`
		Rules   []struct {
			Name      string `json:"name"`
			Value     string `json:"value"`
			Consulted bool   `json:"consulted"`
			Effect    string `json:"effect"`
		} `json:"rules"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &tr), out)
	require.Equal(t, "reject", tr.Outcome)
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":10101,"ErrorInfo":"You cannot invite users right now."}`, string(tr.Answer))
	require.Len(t, tr.Rules, 5)
	require.Equal(t, "rejected the request", tr.Rules[0].Effect)
	require.Equal(t, "true", tr.Rules[1].Value, "community-staff-only matches")
	require.False(t, tr.Rules[1].Consulted, "but the request was already rejected")
	require.True(t, tr.Rules[4].Consulted, "shadow rules are always evaluated")
}

func TestPolicyExplainErrorsAndStats(t *testing.T) {
	t.Parallel()
	policy := writeFile(t, "p.yaml", `apiVersion: invitegate/v1
rules:
  - name: third-member
    refuse_member: members[2] == member
  - name: flood
    reject: stats.operator_invites_1h > 100
    mode: shadow
  - name: hot
    refuse_member: stats.member_invited_1h > 5
`)
	b := &cliBundle{env: map[string]string{}}
	body := `{"GroupId":"g","Operator_Account":"op","DestinationMembers":[{"Member_Account":"a"},{"Member_Account":"b"}]}`
	code, out, stderr := b.run(t, body, "policy", "explain", "--policy", policy,
		"--stat", "operator_invites_1h=101", "--stat", "member_invited_1h:b=6")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "errors:   third-member (counted as not matched)")
	require.Contains(t, out, "error: index out of bounds: 2")
	require.Contains(t, out, "would reject (shadow)")
	require.Contains(t, out, "stat:     operator_invites_1h[op] = 101")
	require.Contains(t, out, "RefusedMembers_Account\":[\"b\"]")

	for _, bad := range []struct{ body, want string }{
		{`{"Operator_Account":"op","DestinationMembers":[]}`, "missing GroupId"},
		{`{"GroupId":"g","DestinationMembers":[]}`, "missing Operator_Account"},
		{`{"GroupId":"g","Operator_Account":"op"}`, "missing DestinationMembers"},
		{`[1]`, "body:"},
		{`{"GroupId":"g","Operator_Account":"op","DestinationMembers":[],"EventTime":"soon"}`, "EventTime"},
	} {
		code, _, stderr = b.run(t, bad.body, "policy", "explain", "--policy", policy)
		require.Equal(t, exitUsage, code, bad.body)
		require.Contains(t, stderr, bad.want)
	}
	code, _, stderr = b.run(t, body, "policy", "explain", "--policy", policy, "--stat", "nope=1")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `unknown statistic "nope"`)
	code, _, stderr = b.run(t, body, "policy", "explain")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--nats-url")
}

func TestPolicyExplainInForce(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.ok(t, "", "policy", "apply", examplePolicy)
	out := b.ok(t, `{"GroupId":"g","Operator_Account":"spammer2","DestinationMembers":[{"Member_Account":"x"}]}`, "policy", "explain")
	require.Contains(t, out, "policy:   app "+demoApp+", revision 1 (in force)")
	require.Contains(t, out, "outcome:  reject; responsible rule: banned-operator")
}

// recordedDB is a migrated database holding three invites of the last
// minute, inserted as the projector stores them.
func recordedDB(t *testing.T) string {
	t.Helper()
	dsn := pgtest.NewMigrated(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(context.Background(), `
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, refused, error_code, error_info, reject_rule, policy_revision, fail_mode,
	platform, client_ip, received_at, decided_at, stream_seq, members)
VALUES
 (gen_random_uuid(), 2, $1, 'Group.CallbackBeforeInviteJoinGroup', 'g1', 'Public', 'alice', 2, 0, 'allow', NULL, 0, '', '', 1, false,
  'iOS', '', now() - interval '10 seconds', now(), 1, ARRAY['bob', 'carol']),
 (gen_random_uuid(), 2, $1, 'Group.CallbackBeforeInviteJoinGroup', 'g2', 'Public', 'spammer1', 1, 0, 'reject', NULL, 10101, 'x', 'banned-operator', 1, false,
  'iOS', '', now() - interval '20 seconds', now(), 2, ARRAY['dave']),
 (gen_random_uuid(), 2, $1, 'Group.CallbackBeforeInviteJoinGroup', 'g1', 'Public', 'alice', 2, 1, 'partial', '[{"member":"scam-bot-7","rule":"banned-member"}]', 0, '', '', 1, false,
  'iOS', '', now() - interval '30 seconds', now(), 3, ARRAY['scam-bot-7', 'erin'])`, demoApp)
	require.NoError(t, err)
	return dsn
}

func TestPolicyReplayCommand(t *testing.T) {
	t.Parallel()
	dsn := recordedDB(t)
	b := &cliBundle{env: map[string]string{"INVITEGATE_DATABASE_URL": dsn}}
	cand := writeFile(t, "cand.yaml", strings.Replace(mustRead(t, examplePolicy), "banned_operators: [spammer1, spammer2]",
		"banned_operators: [spammer1, spammer2, alice]", 1))
	code, out, stderr := b.run(t, "", "policy", "replay", cand, "--since", "1h", "--json")
	require.Equal(t, exitOK, code, stderr)
	var s map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	for _, key := range []string{"requests", "changed", "newly_rejected", "newly_allowed", "members_newly_refused",
		"members_newly_allowed", "by_rule", "samples", "top_operators", "top_groups"} {
		require.Contains(t, s, key)
	}
	require.Equal(t, []any{3.0, 2.0, 2.0, 0.0, 3.0, 0.0}, []any{s["requests"], s["changed"], s["newly_rejected"],
		s["newly_allowed"], s["members_newly_refused"], s["members_newly_allowed"]})
	require.Len(t, s["samples"], 2)
	require.Equal(t, map[string]any{"rule": "banned-operator", "kind": "reject", "mode": "enforce",
		"requests_rejected": 3.0, "members_refused": 0.0, "errors": 0.0}, s["by_rule"].([]any)[0])

	code, out, stderr = b.run(t, "", "policy", "replay", cand, "--since", "1d", "--app", demoApp)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "replayed 3 invites of "+demoApp)
	require.Regexp(t, `requests changed\s+2\s+\(66.67%\)`, out)
	require.Regexp(t, `\n`+demoApp+`\s+alice\s+2\n`, out)

	code, out, _ = b.run(t, "", "policy", "replay", cand, "--since", "1h", "--until", time.Now().Add(-time.Hour).Format(time.RFC3339), "--json")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, `"requests": 0`)

	for _, args := range [][]string{
		{"policy", "replay", cand},
		{"policy", "replay", cand, "--since", "yesterday"},
		{"policy", "replay", cand, "--since", "-1h"},
		{"policy", "replay", cand, "--since", "1h", "--until", "noon"},
		{"policy", "replay", cand, "--since", "1h", "--app", "x'; DROP TABLE y"},
		{"policy", "replay", "--since", "1h"},
	} {
		code, _, stderr := b.run(t, "", args...)
		require.Equal(t, exitUsage, code, "%v: %s", args, stderr)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func TestPolicyApplyReplay(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.env["INVITEGATE_DATABASE_URL"] = recordedDB(t)
	cand := b.file(t, "cand.yaml", strings.Replace(mustRead(t, examplePolicy), "banned_operators: [spammer1, spammer2]",
		"banned_operators: [spammer1, spammer2, alice]", 1))

	// No terminal to confirm on and no --yes: nothing is published.
	code, out, stderr := b.run(t, "y\n", "policy", "apply", cand, "--replay", "1h")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, out, "replayed 3 invites of "+demoApp)
	require.Contains(t, stderr, "pass --yes")
	require.NotContains(t, out, "applied")
	code, _, stderr = b.run(t, "", "policy", "show")
	require.Equal(t, exitFailure, code, "no policy was published: %s", stderr)

	out = b.ok(t, "", "policy", "apply", cand, "--replay", "1h", "--yes")
	require.Regexp(t, `requests changed\s+2`, out)
	require.Contains(t, out, "applied "+cand+": revision 1")
	require.Contains(t, b.ok(t, "", "policy", "show"), "alice")
}
