package main

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

// twoInvites stores, an hour ago, alice inviting jared (refused by
// banned-member) and leckie into g1, and, ten minutes ago, alice's
// rejected invite of jared into g2, under revision 4 by mallory.
const twoInvites = `
INSERT INTO invitegate.policy_revisions (revision, app, kind, applied, author, reason, changed_at, stored_at)
VALUES (4, '1400000000', 'list.added', true, 'mallory', 'spam report', now() - interval '2 hours', now());
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, refused, error_code, error_info, reject_rule, policy_revision, fail_mode,
	platform, client_ip, received_at, decided_at, stream_seq)
VALUES ('01938c3e-5a2b-7c4d-9e8f-0a1b2c3d4e5f', 1, '1400000000', 'c', 'g1', 'Public', 'alice', 2, 1, 'partial',
	'[{"member": "jared", "rule": "banned-member"}]', 0, '', '', 4, false, 'iOS', '', now() - interval '1 hour', now(), 1),
	('01938c3e-5a2b-7c4d-9e8f-0a1b2c3d4e60', 1, '1400000000', 'c', 'g2', 'Public', 'alice', 1, 0, 'reject',
	NULL, 10110, 'Too many', 'flood', 4, false, 'iOS', '', now() - interval '10 minutes', now(), 2);
INSERT INTO invitegate.invite_members (event_id, position, member, refused, rule, received_at)
SELECT event_id, 0, 'jared', outcome = 'partial', CASE WHEN outcome = 'partial' THEN 'banned-member' END, received_at
FROM invitegate.invite_events
UNION ALL
SELECT event_id, 1, 'leckie', false, NULL, received_at FROM invitegate.invite_events WHERE group_id = 'g1';`

func TestDecisions(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewMigrated(t)
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), twoInvites)
	require.NoError(t, err)

	code, out, stderr := runMain(t, nil, "decisions", "--database-url", dsn, "--member", "jared", "--json")
	require.Equal(t, exitOK, code, stderr)
	var got []decision
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var d decision
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d))
		got = append(got, d)
	}
	require.Len(t, got, 2)
	require.Equal(t, []string{"rejected", "flood", "g2"}, []string{got[0].Outcome, *got[0].Rule, got[0].GroupID}, "newest first")
	require.Equal(t, []string{"refused", "banned-member", "g1"}, []string{got[1].Outcome, *got[1].Rule, got[1].GroupID})
	require.Equal(t, "mallory", *got[1].PolicyAuthor)
	require.Equal(t, int64(4), got[1].PolicyRevision)

	code, out, stderr = runMain(t, nil, "decisions", "--database-url", dsn, "--operator", "alice")
	require.Equal(t, exitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out) // header, jared rejected, jared refused, leckie allowed
	require.Regexp(t, `^RECEIVED \(UTC\)\s+MEMBER\s+OUTCOME\s+RULE`, lines[0])
	require.Regexp(t, `jared\s+rejected\s+flood\s+alice\s+g2\s+1400000000\s+4\s+mallory\s+spam report`, lines[1])
	require.Regexp(t, `leckie\s+allowed\s+-\s+alice\s+g1`, out)

	code, out, _ = runMain(t, nil, "decisions", "--database-url", dsn, "--member", "jared", "--since", "30m")
	require.Equal(t, exitOK, code)
	require.NotContains(t, out, "banned-member", "an hour ago is before --since")

	code, out, _ = runMain(t, nil, "decisions", "--database-url", dsn, "--member", "nobody")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "no decisions")
}

func TestDecisionsUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"decisions"},
		{"decisions", "--member", "x", "--since", "-1h"},
		{"decisions", "--member", "x", "--limit", "0"},
		{"decisions", "--operator", strings.Repeat("x", maxDecisionID+1)},
	} {
		code, _, stderr := runMain(t, nil, args...)
		require.Equal(t, exitUsage, code, "%v: %s", args, stderr)
	}
}
