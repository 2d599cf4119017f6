package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

// TestRunStatsRule is the feedback loop through the binary a user runs:
// `invitegate run` with a policy reading stats (seeded into the policy log
// like any --policy file), an operator inviting past the limit is
// rejected, and the group's size is stored in PostgreSQL.
func TestRunStatsRule(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	policy := filepath.Join(t.TempDir(), "flood.yaml")
	require.NoError(t, os.WriteFile(policy, []byte(`apiVersion: invitegate/v1
rules:
  - name: flood
    reject: stats.operator_invites_1h >= 20
    error_code: 10110
    error_info: "Too many invitations."
`), 0o600))
	p := startProcess(t, "run", "--sdkappid", demoApp, "--policy", policy,
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--database-url", dsn, "--batch-wait", "20ms")
	query := "?SdkAppid=" + demoApp + "&CallbackCommand=Group.CallbackBeforeInviteJoinGroup&contenttype=json"
	invite := func(i int) string {
		members := make([]string, 5)
		for j := range members {
			members[j] = fmt.Sprintf(`{"Member_Account":"m%d-%d"}`, i, j)
		}
		return `{"CallbackCommand":"Group.CallbackBeforeInviteJoinGroup","GroupId":"@TGS#flood","Type":"Public",` +
			`"Operator_Account":"flooder","DestinationMembers":[` + strings.Join(members, ",") + `]}`
	}
	pace := time.NewTicker(20 * time.Millisecond) // past the limit, a paced flooder rather than a flood
	defer pace.Stop()
	sent := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := post(t, p.callback+query, invite(sent))
		require.Equal(t, http.StatusOK, status)
		if strings.Contains(body, `"ErrorCode":10110`) {
			require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":10110,"ErrorInfo":"Too many invitations."}`, body)
			break
		}
		require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, body)
		sent++
		require.True(t, time.Now().Before(deadline), "not throttled within 30 s after %d invites\n%s", sent, p.logText())
		if sent >= 4 {
			<-pace.C
		}
	}
	require.GreaterOrEqual(t, sent, 4, "rejected before the limit")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.Eventually(t, func() bool {
		var size int64
		err := conn.QueryRow(ctx, `SELECT size FROM invitegate.group_sizes WHERE app = $1 AND group_id = '@TGS#flood'`, demoApp).Scan(&size)
		return err == nil && size == int64(5*sent)
	}, 30*time.Second, 50*time.Millisecond, "group size stored\n%s", p.logText())
}
