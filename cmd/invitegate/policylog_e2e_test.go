package main

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// freeAddr returns a 127.0.0.1 address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestIngressFollowsThePolicyLog starts `invitegate ingress` as a user
// would (embedded NATS reachable on a TCP port, --policy seeding the empty
// log), changes its policy with the CLI, and restarts it: the log wins over
// the file.
func TestIngressFollowsThePolicyLog(t *testing.T) {
	t.Parallel()
	natsAddr, dataDir := freeAddr(t), t.TempDir()
	args := []string{"ingress", "--sdkappid", demoApp, "--policy", "../../deploy/policy/example.yaml",
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--embedded-nats-addr", natsAddr, "--replica-id", "e2e", "--policy-status-interval", "200ms", "--insecure-allow-unsigned"}
	p := startProcess(t, args...)
	status, body := get(t, "http://"+p.admin+"/readyz")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `"policy_revision":1`, "the file seeded the empty log")

	cli := &cliBundle{env: map[string]string{"INVITEGATE_NATS_URL": "nats://" + natsAddr, "INVITEGATE_SDKAPPID": demoApp}, dir: t.TempDir()}
	out := cli.ok(t, "", "list", "add", "banned_operators", "leckie", "--wait")
	require.Regexp(t, `1 live replicas decide with revision 2 after`, out)
	query := "?SdkAppid=" + demoApp + "&CallbackCommand=Group.CallbackBeforeInviteJoinGroup&contenttype=json"
	status, body = post(t, p.callback+query, seedSample)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":10101,"ErrorInfo":"You cannot invite users right now."}`, body)
	require.Contains(t, cli.ok(t, "", "policy", "status"), "e2e")

	p.terminate(t)

	// Restarted with a different file: the log has events, so it is
	// ignored, and the replica decides with revision 2 again.
	other := cli.file(t, "other.yaml", "apiVersion: invitegate/v1\nrules: [{name: all, reject: 'true'}]\n")
	args[4] = other
	p = startProcess(t, args...)
	_, body = get(t, "http://"+p.admin+"/readyz")
	require.Contains(t, body, `"policy_revision":2`)
	require.True(t, strings.Contains(p.logText(), "the --policy file is ignored"), p.logText())
	_, body = post(t, p.callback+query, seedSample)
	require.Contains(t, body, `"ErrorCode":10101`)
}
