//go:build faults

package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/policystore"
)

const forgedPolicyDoc = `apiVersion: invitegate/v1
lists:
  banned: [evil]
rules:
  - name: banned-operator
    reject: operator in lists.banned
    error_code: 10101
`

// decide sends one invite from operator and returns IM's ActionStatus and
// ErrorCode as the ingress answered.
func decide(ctx context.Context, t *testing.T, callback, operator string) int {
	t.Helper()
	body := fmt.Sprintf(`{"CallbackCommand":"Group.CallbackBeforeInviteJoinGroup","GroupId":"@TGS#forged","Type":"Public",
"Operator_Account":%q,"DestinationMembers":[{"Member_Account":"m1"}],"EventTime":%d}`, operator, time.Now().UnixMilli())
	url := faults.CaseURL(callback, faults.FuzzCase{App: app, Command: "Group.CallbackBeforeInviteJoinGroup"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var answer struct{ ErrorCode int }
	require.NoError(t, json.Unmarshal(data, &answer), string(data))
	return answer.ErrorCode
}

// Scenario: forged policy. The ingress and projector trust one admin key
// (and the compactor's key for snapshots). An attacker who can publish to
// invitegate.policy.> (any credential with the right, not the admin's
// private key) publishes unsigned, tampered, replayed, untrusted-key and
// republished events and overwrites the compacted snapshot: no decision
// changes, every forged event is rejected with its reason in the metrics
// and in policy_revisions, and a restarted ingress still refuses them.
func TestFaultForgedPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bins := binaries(t)
	cli := func(args ...string) string {
		out, err := exec.Command(bins.Invitegate, args...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
		return string(out)
	}
	for _, name := range []string{"admin", "compactor", "mallory"} {
		cli("policy", "keygen", "--out", filepath.Join(dir, name))
	}
	pub := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name+".pub"))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	trustFile := filepath.Join(dir, "trust.pub")
	require.NoError(t, os.WriteFile(trustFile, []byte(pub("admin")+"\nsnapshots "+pub("compactor")+"\n"), 0o644))
	policy := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(policy, []byte(forgedPolicyDoc), 0o644))

	c := newCluster(t, clusterOptions{policy: policy,
		ingressArgs:   []string{"--policy-trust", trustFile},
		projectorArgs: []string{"--policy-trust", trustFile, "--policy-snapshot-key", filepath.Join(dir, "compactor.key"), "--policy-compact-interval", "100ms"}})
	ctx := c.ctx
	cliArgs := []string{"--nats-url", c.nats.URL(), "--sdkappid", app, "--policy-trust", trustFile, "--signing-key", filepath.Join(dir, "admin.key")}
	logf("faults: forged-policy: %s", strings.TrimSpace(cli(append([]string{"policy", "apply", policy, "--wait"}, cliArgs...)...)))
	require.Equal(t, 10101, decide(ctx, t, c.ingress.Callback, "evil"), "the signed policy applies")
	require.Equal(t, 0, decide(ctx, t, c.ingress.Callback, "good"))

	nc, err := nats.Connect(c.nats.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	admin := loadKey(t, filepath.Join(dir, "admin.key"))
	mallory := loadKey(t, filepath.Join(dir, "mallory.key"))
	allowAll := `{"kind":"replaced","author":"admin","document":{"apiVersion":"invitegate/v1","lists":{"banned":[]},"rules":[]}}`
	unban := `{"kind":"list.removed","author":"admin","list":"banned","ids":["evil"]}`
	subject := func(kind string) string { return decider.PolicySubject(app, kind) }
	send := func(kind, body string, key *decider.SigningKey, signApp, signSubject, signBody string, extra nats.Header) {
		msg := nats.NewMsg(subject(kind))
		msg.Data = []byte(body)
		if key != nil {
			id, sig := key.SignEvent(signApp, signSubject, []byte(signBody))
			msg.Header.Set(decider.HeaderPolicyKey, id)
			msg.Header.Set(decider.HeaderPolicySignature, sig)
		}
		for k, v := range extra {
			msg.Header[k] = v
		}
		_, err := js.PublishMsg(ctx, msg)
		require.NoError(t, err)
	}
	other := "1400000099"
	send(decider.ChangeListRemoved, unban, nil, "", "", "", nil)                                                                            // unsigned
	send(decider.ChangeReplaced, allowAll, mallory, app, subject(decider.ChangeReplaced), allowAll, nil)                                    // untrusted key
	send(decider.ChangeReplaced, allowAll, admin, app, subject(decider.ChangeReplaced), strings.Replace(allowAll, "[]", "[\"x\"]", 1), nil) // tampered body
	send(decider.ChangeListRemoved, unban, admin, app, subject(decider.ChangeListAdded), unban, nil)                                        // tampered subject
	send(decider.ChangeListRemoved, unban, admin, other, decider.PolicySubject(other, decider.ChangeListRemoved), unban, nil)               // replayed from another app
	send(decider.ChangeListRemoved, unban, admin, app, subject(decider.ChangeListRemoved), unban,
		nats.Header{jetstream.StreamHeader: {"EVIL"}}) // republished by another stream

	// And the compacted snapshot overwritten with a policy of no rules.
	stores, err := natsconn.EnsurePolicyStores(ctx, js, natsconn.PolicyStreamConfig{Replicas: 1})
	require.NoError(t, err)
	empty, err := decider.Compile(&decider.Document{APIVersion: decider.APIVersion}, 100)
	require.NoError(t, err)
	last, err := stores.Stream.Info(ctx)
	require.NoError(t, err)
	require.NoError(t, policystore.SaveSnapshot(ctx, stores.Snapshots, app, empty, last.State.LastSeq,
		policystore.SnapshotSeal{Key: mallory}))

	want := map[string]float64{"unsigned": 1, "untrusted_key": 1, "bad_signature": 3, "republished": 1}
	require.Eventually(t, func() bool {
		m, err := faults.Scrape(ctx, c.ingress.MetricsURL())
		if err != nil {
			return false
		}
		for reason, n := range want {
			if m[fmt.Sprintf(`invitegate_policy_events_rejected_total{reason=%q}`, reason)] != n {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "ingress:\n%s", c.ingress.Tail(4096))
	require.Equal(t, 10101, decide(ctx, t, c.ingress.Callback, "evil"), "no forged event changed a decision")

	// A restarted ingress (its disk snapshot, the forged compacted one)
	// still decides with the signed policy.
	require.NoError(t, c.ingress.Terminate(30*time.Second))
	c.startIngress()
	require.Eventually(t, func() bool { return decide(ctx, t, c.ingress.Callback, "evil") == 10101 }, time.Minute, 100*time.Millisecond)
	require.Equal(t, 0, decide(ctx, t, c.ingress.Callback, "good"))

	// The audit: every forged event recorded, rejected, with its reason.
	conn, err := pgx.Connect(ctx, c.dsn)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(ctx))
	got := map[string]float64{}
	require.Eventually(t, func() bool {
		rows, err := conn.Query(ctx, `SELECT reject_reason, count(*) FROM invitegate.policy_revisions WHERE NOT applied GROUP BY 1`)
		if err != nil {
			return false
		}
		got = map[string]float64{}
		for rows.Next() {
			var r string
			var n int
			if rows.Scan(&r, &n) == nil {
				got[r] = float64(n)
			}
		}
		return rows.Err() == nil && len(got) == len(want)
	}, time.Minute, 100*time.Millisecond)
	require.Equal(t, want, got)
	hist := cli(append([]string{"policy", "history"}, cliArgs[:6]...)...)
	logf("faults: forged-policy: rejected by the ingress and in policy_revisions: %v; history:\n%s", got, hist)
	require.Contains(t, hist, "rejected (untrusted_key)")
}

func loadKey(t *testing.T, path string) *decider.SigningKey {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	k, err := decider.ParseSigningKey(data)
	require.NoError(t, err)
	return k
}
