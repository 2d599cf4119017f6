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
	"sync"
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

// answer sends one invite from operator and returns the ingress's answer.
func answer(ctx context.Context, t *testing.T, callback, operator string) string {
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
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	return string(data)
}

// decide sends one invite from operator and returns IM's ErrorCode as the
// ingress answered.
func decide(ctx context.Context, t *testing.T, callback, operator string) int {
	t.Helper()
	data := answer(ctx, t, callback, operator)
	var a struct{ ErrorCode int }
	require.NoError(t, json.Unmarshal([]byte(data), &a), data)
	return a.ErrorCode
}

// probeOperators are the invites sent before and after the attacks: their
// answers must not change.
var probeOperators = []string{"evil", "good", "mallory", "admin", "spammer1"}

func probe(ctx context.Context, t *testing.T, callback string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, op := range probeOperators {
		out[op] = answer(ctx, t, callback, op)
	}
	return out
}

// roleConn is one shipped user's connection, named so that the server's
// log tells its violations apart.
type roleConn struct {
	role string
	nc   *nats.Conn
	js   jetstream.JetStream
}

func (c *cluster) connectAs(role string) roleConn {
	c.t.Helper()
	nc, err := nats.Connect(c.nats.UserURL(role), nats.Name(forgedConn(role)),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // the refusals are asserted below
	require.NoError(c.t, err, role)
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(c.t, err)
	return roleConn{role, nc, js}
}

// waitIngressReady waits until the ingress's /readyz answers 200.
func (c *cluster) waitIngressReady(what string) {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		resp, err := http.Get("http://" + c.ingress.Admin + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 50*time.Millisecond, "ready %s\n%s", what, c.ingress.Tail(4096))
}

func forgedConn(role string) string { return "forged-" + role }

// refusal is one request of a role that the server must refuse: the
// request fails and the server logs a violation on subject.
type refusal struct {
	role, what, subject string
	do                  func(ctx context.Context, rc roleConn) error
}

// Scenario: forged policy, against the shipped NATS configuration and users
// (deploy/compose/nats.conf and its permissions; `migrate up` as the migrate
// user, the ingress and the projector as theirs with --no-migrate). The
// ingress and projector trust one admin key (and the compactor's key for
// snapshots). Every non-admin role tries to change the policy: the ingress,
// the projector and the migrate user publish policy events, the ingress
// and the migrate user create a stream republishing into the log, the
// ingress shrinks the events stream and overwrites the compacted snapshot;
// the server refuses each. No client connects without credentials, and
// the system account's publishes reach no stream. Where a publish is
// allowed, it is rejected by the replicas with its reason: the
// policy-admin user without the admin's private key publishes unsigned,
// tampered, replayed, untrusted-key and republished events, the projector
// overwrites the compacted snapshot with one sealed by an untrusted key,
// which an ingress restarted without its disk refuses, and which the
// projector, back, deletes and writes anew; the migrate user
// sets a RePublish from the status bucket into the log, whose messages the
// replicas refuse as republished. The same invites are answered the same
// before, after and after that restart; IM's load runs throughout the
// attacks and is stored.
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

	c := newCluster(t, clusterOptions{policy: policy, shipped: true,
		ingressArgs:   []string{"--policy-trust", trustFile},
		projectorArgs: []string{"--policy-trust", trustFile, "--policy-snapshot-key", filepath.Join(dir, "compactor.key"), "--policy-compact-interval", "100ms"}})
	ctx := c.ctx
	cliArgs := []string{"--nats-url", c.nats.UserURL("policy-admin"), "--sdkappid", app, "--policy-trust", trustFile,
		"--signing-key", filepath.Join(dir, "admin.key")}
	logf("faults: forged-policy: %s", strings.TrimSpace(cli(append([]string{"policy", "apply", policy, "--wait"}, cliArgs...)...)))
	require.Equal(t, 10101, decide(ctx, t, c.ingress.Callback, "evil"), "the signed policy applies")
	require.Equal(t, 0, decide(ctx, t, c.ingress.Callback, "good"))
	before := probe(ctx, t, c.ingress.Callback)
	load := c.startLoad(loadRate, 10*time.Second) // IM's load throughout the attacks

	roles := map[string]roleConn{}
	for _, role := range []string{"ingress", "projector", "migrate", "policy-admin", "sys"} {
		roles[role] = c.connectAs(role)
	}
	policyLog := func() uint64 {
		s, err := roles["policy-admin"].js.Stream(ctx, decider.PolicyStream)
		require.NoError(t, err)
		return s.CachedInfo().State.LastSeq
	}
	logBefore := policyLog()

	admin := loadKey(t, filepath.Join(dir, "admin.key"))
	mallory := loadKey(t, filepath.Join(dir, "mallory.key"))
	allowAll := `{"kind":"replaced","author":"admin","document":{"apiVersion":"invitegate/v1","lists":{"banned":[]},"rules":[]}}`
	unban := `{"kind":"list.removed","author":"admin","list":"banned","ids":["evil"]}`
	subject := func(kind string) string { return decider.PolicySubject(app, kind) }
	forged := func(kind, body string, key *decider.SigningKey, signApp, signSubject, signBody string, extra nats.Header) *nats.Msg {
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
		return msg
	}

	// 1. The roles that may not write the policy: refused by the server.
	replaced := subject(decider.ChangeReplaced)
	publishForged := func(ctx context.Context, rc roleConn) error { // signed by a key of the attacker's
		_, err := rc.js.PublishMsg(ctx, forged(decider.ChangeReplaced, allowAll, mallory, app, replaced, allowAll, nil))
		return err
	}
	evil := jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"invitegate.status.evil"},
		RePublish: &jetstream.RePublish{Source: "invitegate.status.evil", Destination: replaced}}
	createEvil := func(ctx context.Context, rc roleConn) error {
		_, err := rc.js.CreateStream(ctx, evil)
		return err
	}
	snapshotMeta := "$O." + natsconn.PolicySnapshotBucket + ".M.YXBwLzE0MDAwMDAwMDA=" // app/1400000000
	refusals := []refusal{
		{"ingress", "publish a policy event", replaced, publishForged},
		{"ingress", "create a stream republishing into the policy log", "$JS.API.STREAM.CREATE.EVIL", createEvil},
		{"ingress", "update the events stream to max-msgs 1", "$JS.API.STREAM.UPDATE." + decider.EventStream,
			func(ctx context.Context, rc roleConn) error {
				cfg := natsconn.EventStreamConfig{}.StreamConfig()
				cfg.MaxMsgs = 1
				_, err := rc.js.UpdateStream(ctx, cfg)
				return err
			}},
		{"ingress", "overwrite the compacted snapshot", snapshotMeta, func(ctx context.Context, rc roleConn) error {
			_, err := rc.js.Publish(ctx, snapshotMeta, []byte(`{}`))
			return err
		}},
		{"projector", "publish a policy event", replaced, publishForged},
		{"migrate", "publish a policy event", replaced, publishForged},
		{"migrate", "create a stream republishing into the policy log", "$JS.API.STREAM.CREATE.EVIL", createEvil},
	}
	errs := make([]error, len(refusals))
	var wg sync.WaitGroup
	for i, r := range refusals { // a refused request gets no answer: wait for them together
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			errs[i] = r.do(ctx, roles[r.role])
		})
	}
	wg.Wait()
	for i, r := range refusals {
		require.Error(t, errs[i], "%s may %s", r.role, r.what)
		require.Eventually(t, func() bool { return len(c.nats.Violations(forgedConn(r.role), r.subject)) > 0 },
			10*time.Second, 20*time.Millisecond, "%s: %s: the server did not refuse %s\n%s", r.role, r.what, r.subject,
			c.nats.Process().Tail(4096))
	}

	// 2. No credentials: no connection. The system account connects, but its
	// publishes reach no stream of invitegate's account.
	_, err := nats.Connect(c.nats.URL(), nats.Name(forgedConn("anonymous")))
	require.ErrorContains(t, err, "Authorization Violation", "a client without credentials connects")
	_, err = roles["sys"].js.PublishMsg(ctx, forged(decider.ChangeReplaced, allowAll, mallory, app, replaced, allowAll, nil))
	require.ErrorIs(t, err, jetstream.ErrNoStreamResponse, "the system account's publish reached a stream")
	require.NoError(t, roles["sys"].nc.Publish(replaced, []byte(allowAll)))
	require.NoError(t, roles["sys"].nc.Flush())
	require.Equal(t, logBefore, policyLog(), "a refused request reached the policy log")

	// 3. Publishes the shipped permissions allow, without a trusted
	// signature: rejected by the replicas, each with its reason.
	other := "1400000099"
	publishes := []*nats.Msg{
		forged(decider.ChangeListRemoved, unban, nil, "", "", "", nil),                                                              // unsigned
		forged(decider.ChangeReplaced, allowAll, mallory, app, replaced, allowAll, nil),                                             // untrusted key
		forged(decider.ChangeReplaced, allowAll, admin, app, replaced, strings.Replace(allowAll, "[]", "[\"x\"]", 1), nil),          // tampered body
		forged(decider.ChangeListRemoved, unban, admin, app, subject(decider.ChangeListAdded), unban, nil),                          // tampered subject
		forged(decider.ChangeListRemoved, unban, admin, other, decider.PolicySubject(other, decider.ChangeListRemoved), unban, nil), // replayed from another app
		forged(decider.ChangeListRemoved, unban, admin, app, subject(decider.ChangeListRemoved), unban,
			nats.Header{jetstream.StreamHeader: {"EVIL"}}), // republished by another stream
	}
	for _, msg := range publishes {
		_, err := roles["policy-admin"].js.PublishMsg(ctx, msg)
		require.NoError(t, err)
	}
	// And, as the projector (which keeps it), once the compactor has
	// covered the log (so that it does not write it again), the compacted
	// snapshot overwritten with a policy of no rules sealed by an untrusted
	// key.
	last := policyLog()
	require.Eventually(t, func() bool {
		m, err := faults.Scrape(ctx, c.projector.MetricsURL())
		return err == nil && m["invitegate_policy_compacted_position"] == float64(last)
	}, time.Minute, 50*time.Millisecond, "the compactor covers the log\n%s", c.projector.Tail(4096))
	// The projector process is down meanwhile (its credentials in other
	// hands): running, its compactor would find the forged snapshot and
	// replace it at once (below).
	require.NoError(t, c.projector.Terminate(30*time.Second))
	proj := roles["projector"]
	obs, err := proj.js.ObjectStore(ctx, natsconn.PolicySnapshotBucket)
	require.NoError(t, err)
	empty, err := decider.Compile(&decider.Document{APIVersion: decider.APIVersion}, 100)
	require.NoError(t, err)
	require.NoError(t, policystore.SaveSnapshot(ctx, obs, app, empty, last, policystore.SnapshotSeal{Key: mallory}))

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
	require.Equal(t, logBefore+uint64(len(publishes)), policyLog(), "only policy-admin's publishes are in the log")
	after := probe(ctx, t, c.ingress.Callback)
	require.Equal(t, before, after, "no forged event changed a decision")
	records := load.wait(t)

	// A restarted ingress without its disk snapshot finds the forged
	// compacted one, refuses it, replays the log and decides with the
	// signed policy.
	require.NoError(t, c.ingress.Terminate(30*time.Second))
	require.NoError(t, os.RemoveAll(filepath.Join(c.dir, "ingress")))
	c.startIngress()
	require.Eventually(t, func() bool {
		m, err := faults.Scrape(ctx, c.ingress.MetricsURL())
		return err == nil && m[`invitegate_policy_snapshot_load_errors_total{source="compacted"}`] == 1
	}, time.Minute, 50*time.Millisecond, "the forged compacted snapshot is refused\n%s", c.ingress.Tail(4096))
	require.Contains(t, c.ingress.Logs(), "compacted policy snapshot not used")
	c.waitIngressReady("after replaying the log")
	restarted := probe(ctx, t, c.ingress.Callback)
	require.Equal(t, before, restarted, "a restarted ingress decides as before")

	// The projector, back, finds the forged compacted snapshot, deletes it
	// and writes a signed one; an ingress restarted after that starts from
	// it without refusing anything.
	c.startProjector()
	require.Eventually(t, func() bool {
		m, err := faults.Scrape(ctx, c.projector.MetricsURL())
		return err == nil && m["invitegate_policy_snapshots_refused_total"] == 1 &&
			m["invitegate_policy_compacted_position"] >= float64(last)
	}, time.Minute, 50*time.Millisecond, "the compactor replaces the forged snapshot\n%s", c.projector.Tail(4096))
	require.Contains(t, c.projector.Logs(), "compacted policy snapshot refused and deleted")
	require.NoError(t, c.ingress.Terminate(30*time.Second))
	require.NoError(t, os.RemoveAll(filepath.Join(c.dir, "ingress")))
	c.startIngress()
	c.waitIngressReady("from the new compacted snapshot")
	m, err := faults.Scrape(ctx, c.ingress.MetricsURL())
	require.NoError(t, err)
	require.Zero(t, m[`invitegate_policy_snapshot_load_errors_total{source="compacted"}`], "the new compacted snapshot is used")
	require.NotContains(t, c.ingress.Logs(), "compacted policy snapshot not used")
	require.Equal(t, before, probe(ctx, t, c.ingress.Callback), "an ingress started from the new snapshot decides as before")

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
	require.Contains(t, hist, "rejected (untrusted_key)")
	// 4. The migrate user may set a stream's RePublish (its credentials are
	// as sensitive as policy-admin's): the status bucket's writes
	// republished into the policy log carry the Nats-Stream header, and the
	// replicas reject every one.
	rejected := func(reason string) float64 {
		m, err := faults.Scrape(ctx, c.ingress.MetricsURL())
		require.NoError(t, err)
		return m[fmt.Sprintf(`invitegate_policy_events_rejected_total{reason=%q}`, reason)]
	}
	republishedBefore := rejected("republished")
	mig := roles["migrate"]
	ks, err := mig.js.Stream(ctx, "KV_"+natsconn.PolicyStatusBucket)
	require.NoError(t, err)
	kcfg := ks.CachedInfo().Config
	kcfg.RePublish = &jetstream.RePublish{Source: "$KV." + natsconn.PolicyStatusBucket + "." + app + ".*", Destination: replaced}
	_, err = mig.js.UpdateStream(ctx, kcfg)
	require.NoError(t, err, "the migrate user sets a RePublish into the policy log")
	require.Eventually(t, func() bool { return rejected("republished") > republishedBefore }, time.Minute,
		50*time.Millisecond, "a republished status write reaches the replica\n%s", c.ingress.Tail(4096))
	// A rejected event changes nothing, so the replica writes no status
	// for it: no loop, only its periodic status write (every 5 s) is
	// republished.
	loopFrom := rejected("republished")
	require.Never(t, func() bool { return rejected("republished") > loopFrom+2 }, 3*time.Second, 100*time.Millisecond,
		"a republished status write makes the replica write its status again\n%s", c.ingress.Tail(4096))
	kcfg.RePublish = nil
	_, err = mig.js.UpdateStream(ctx, kcfg)
	require.NoError(t, err)
	require.Equal(t, before, probe(ctx, t, c.ingress.Callback), "a republished status write changed a decision")

	status := cli(append([]string{"policy", "status"}, cliArgs[:6]...)...)
	logf("faults: forged-policy: policy status as policy-admin:\n%s", status)

	// The services ran within their grants: every violation the server
	// logged is one of the attacks.
	for _, line := range c.nats.AllViolations() {
		require.Contains(t, line, `:forged-`, "a service was refused: %s", line)
	}

	byRole := map[string]int{}
	for _, r := range refusals {
		byRole[r.role]++
	}
	logf("faults: forged-policy: refused by the server: %d requests (by role %v), a connection without credentials, "+
		"the system account's publishes (no stream); rejected by the replicas: %v, an untrusted compacted snapshot "+
		"and %.0f status writes republished into the log by a RePublish the migrate user set; "+
		"%d probe invites answered the same before, after and after two ingress restarts (the forged compacted snapshot refused, then replaced by the projector); history:\n%s",
		len(refusals), byRole, got, rejected("republished")-republishedBefore, len(probeOperators), hist)
	res := c.settle(records, 0)
	verdict(t, "forged-policy", res, expectation{})
}

func loadKey(t *testing.T, path string) *decider.SigningKey {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	k, err := decider.ParseSigningKey(data)
	require.NoError(t, err)
	return k
}
