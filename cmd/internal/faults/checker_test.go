package faults_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

func rec(seq string, outcome string, members ...string) loadgen.Record {
	r := loadgen.Record{Key: "run1." + seq, Command: loadgen.CommandBeforeInviteJoinGroup,
		GroupID: "@TGS#g1.run1." + seq, Operator: "op", Members: members, Outcome: outcome, Status: 200}
	switch outcome {
	case loadgen.OutcomeReject:
		r.ErrorCode = 10101
	case loadgen.OutcomePartial:
		r.Refused = members[:1]
	case loadgen.OutcomeError:
		r.Status, r.ErrorKind = 0, loadgen.ErrConnection
	}
	return r
}

func insertInvite(t *testing.T, conn *pgx.Conn, groupID, operator, outcome string, code, members, refused int) {
	t.Helper()
	_, err := conn.Exec(context.Background(), `
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
  member_count, refused_count, outcome, error_code, error_info, reject_rule, policy_revision, fail_mode,
  platform, client_ip, received_at, decided_at, stream_seq)
VALUES (gen_random_uuid(), 1, '1400000000', 'Group.CallbackBeforeInviteJoinGroup', $1, 'Public', $2,
  $3, $4, $5, $6, '', '', 1, false, 'iOS', '', now(), now(), 1)`, groupID, operator, members, refused, outcome, code)
	require.NoError(t, err)
}

// migrated is a migrated database of the test's own and a connection to it.
func migrated(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn := pgtest.NewMigrated(t)
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return dsn, conn
}

func TestCheckClassifiesEveryRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, conn := migrated(t)

	records := []loadgen.Record{
		rec("0", loadgen.OutcomeAllow, "a"),           // stored once
		rec("1", loadgen.OutcomePartial, "a", "b"),    // stored twice: duplicated
		rec("2", loadgen.OutcomeReject, "a"),          // never stored: lost
		rec("3", loadgen.OutcomeError, "a"),           // unanswered, stored: recovered
		rec("4", loadgen.OutcomeError, "a"),           // unanswered, not stored
		rec("5", loadgen.OutcomeAllow, "a", "b", "c"), // stored with another outcome: unexpected
	}
	insertInvite(t, conn, "@TGS#g1.run1.0", "op", "allow", 0, 1, 0)
	insertInvite(t, conn, "@TGS#g1.run1.1", "op", "partial", 0, 2, 1)
	insertInvite(t, conn, "@TGS#g1.run1.1", "op", "partial", 0, 2, 1)
	insertInvite(t, conn, "@TGS#g1.run1.3", "op", "allow", 0, 1, 0)
	insertInvite(t, conn, "@TGS#g1.run1.5", "op", "reject", 1, 3, 0)
	insertInvite(t, conn, "@TGS#g1.run1.99", "op", "allow", 0, 1, 0)  // no such request: unexpected
	insertInvite(t, conn, "@TGS#fuzz7", "op", "allow", 0, 1, 0)       // no run's: not read
	insertInvite(t, conn, "@TGS#g1.run2.0", "op", "allow", 0, 1, 0)   // another run's: not read
	insertInvite(t, conn, "@TGS#g1.run1.0.x", "op", "allow", 0, 1, 0) // the run's, no key: foreign

	res, err := faults.Check(ctx, dsn, records)
	require.NoError(t, err)
	require.Equal(t, "faults: unit: attempted=6 answered=4 stored=3 lost=1 duplicated=1 unexpected=2", res.Line("unit"), res.Detail())
	require.Equal(t, 1, res.Recovered)
	require.Equal(t, 1, res.Foreign)
	require.Equal(t, map[string]int{loadgen.ErrConnection: 2}, res.Unanswered)
	require.Equal(t, 2, res.UnansweredTotal())
	require.Contains(t, res.Detail(), "run1.2: answered, never stored")
	require.Contains(t, res.Detail(), "run1.5: outcome reject, answered allow")
}

func TestCheckMembershipEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, conn := migrated(t)
	join := loadgen.Record{Key: "r.0", Command: loadgen.CommandAfterNewMemberJoin, GroupID: "@TGS#g1.r.0",
		Operator: "op", Members: []string{"a", "b"}, Outcome: loadgen.OutcomeOK, Status: 200}
	exit := join
	exit.Key, exit.Command, exit.GroupID = "r.1", loadgen.CommandAfterMemberExit, "@TGS#g1.r.1"
	for _, m := range []struct{ group, kind string }{{"@TGS#g1.r.0", "member_joined"}, {"@TGS#g1.r.1", "member_joined"}} {
		_, err := conn.Exec(ctx, `
INSERT INTO invitegate.membership_events (event_id, schema_version, kind, app, command, group_id, group_type,
  operator, members, change_type, platform, client_ip, received_at, decided_at, stream_seq)
VALUES (gen_random_uuid(), 1, $1, '1400000000', '', $2, 'Public', 'op', '{a,b}', 'Invited', '', '', now(), now(), 1)`,
			m.kind, m.group)
		require.NoError(t, err)
	}
	res, err := faults.Check(ctx, dsn, []loadgen.Record{join, exit})
	require.NoError(t, err)
	require.Equal(t, "faults: m: attempted=2 answered=2 stored=2 lost=0 duplicated=0 unexpected=1", res.Line("m"))
	require.Contains(t, res.Examples[0], "kind member_joined for command "+loadgen.CommandAfterMemberExit)
}

func TestCheckFailsWithoutDatabase(t *testing.T) {
	t.Parallel()
	_, err := faults.Check(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", nil)
	require.ErrorContains(t, err, "check: connect")
}

func TestRecordKey(t *testing.T) {
	t.Parallel()
	require.Equal(t, "run.12", faults.RecordKey("@TGS#g3.run.12"))
	require.Equal(t, "run.12", faults.RecordKey("@TGS#_g3.run.12"))
	require.Equal(t, "", faults.RecordKey("@TGS#2J4SZEAEL"))
	require.Equal(t, "", faults.RecordKey("a.b.c.d"))
}
