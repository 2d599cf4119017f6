package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/deploy"
	"github.com/invitegate/invitegate/ingress"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// TestShippedNATS runs invitegate against a NATS server configured with the
// shipped files (deploy/compose/nats.conf with passwords, deploy/k8s/base's
// nats.conf with nkeys, both with deploy/k8s/base/nats-permissions.conf; only
// addresses, paths and secrets templated), every role as its shipped user:
// `migrate up` provisions, the ingress (outbox, policy follower, stats
// follower) and the projector (consumer, compactor, revisions writer, stats
// aggregator) run with --no-migrate, `policy apply --wait` reaches the
// ingress and events land in PostgreSQL, without a single permissions
// violation. Then, as each role, the attacks on the policy and the events
// must fail.
func TestShippedNATS(t *testing.T) {
	t.Parallel()
	for _, flavor := range []string{deploy.NATSCompose, deploy.NATSKubernetes} {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			n := startShippedNATS(t, flavor)
			testShippedRoles(t, n)
			testShippedAttacks(t, n)
		})
	}
}

// shippedNATS is a server started from a shipped configuration.
type shippedNATS struct {
	srv        *server.Server
	url        string
	cfg        deploy.NATSConfig
	violations *violationLog
}

// violationLog keeps the server's permission violations ("Publish
// Violation - ... Subject ...").
type violationLog struct {
	mu    sync.Mutex
	lines []string
}

func (v *violationLog) record(format string, a ...any) {
	if line := fmt.Sprintf(format, a...); strings.Contains(line, "Violation") {
		v.mu.Lock()
		v.lines = append(v.lines, line)
		v.mu.Unlock()
	}
}

func (v *violationLog) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.lines...)
}

func (v *violationLog) Noticef(string, ...any)    {}
func (v *violationLog) Warnf(f string, a ...any)  { v.record(f, a...) }
func (v *violationLog) Fatalf(f string, a ...any) { v.record(f, a...) }
func (v *violationLog) Errorf(f string, a ...any) { v.record(f, a...) }
func (v *violationLog) Debugf(string, ...any)     {}
func (v *violationLog) Tracef(string, ...any)     {}

// refused says whether the server refused subject to the connection named
// attack-<role>.
func (v *violationLog) refused(role, subject string) bool {
	for _, l := range v.all() {
		if strings.Contains(l, `:attack-`+role+`" - `) && strings.HasSuffix(l, `Subject "`+subject+`"`) {
			return true
		}
	}
	return false
}

func startShippedNATS(t *testing.T, flavor string) *shippedNATS {
	t.Helper()
	cfg, err := deploy.WriteNATSConfig(t.TempDir(), flavor)
	require.NoError(t, err)
	opts, _, err := cfg.NATSServerOptions(t.TempDir())
	require.NoError(t, err)
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	v := &violationLog{}
	s.SetLoggerV2(v, false, false, false)
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(t, s.ReadyForConnections(10*time.Second), "nats did not start")
	return &shippedNATS{srv: s, url: s.ClientURL(), cfg: cfg, violations: v}
}

// flags returns the command line flags that connect as user.
func (n *shippedNATS) flags(user string) []string {
	u := n.cfg.Users[user]
	args := []string{"--nats-url", u.URL(n.url)}
	if u.NKeyFile != "" {
		args = append(args, "--nats-nkey", u.NKeyFile)
	}
	return args
}

// connect connects as user with the client library.
func (n *shippedNATS) connect(t *testing.T, user string, opts ...nats.Option) roleClient {
	t.Helper()
	u := n.cfg.Users[user]
	opt := nats.UserInfo(u.Name, u.Password)
	if u.NKeyFile != "" {
		var err error
		opt, err = nats.NkeyOptionFromSeed(u.NKeyFile)
		require.NoError(t, err)
	}
	opts = append(opts, opt, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	nc, err := nats.Connect(n.url, opts...)
	require.NoError(t, err, user)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return roleClient{nc, js}
}

// roleClient is one role's connection.
type roleClient struct {
	nc *nats.Conn
	jetstream.JetStream
}

const shippedToken = "shipped-callback-token"

// signedPost posts an invite signed with shippedToken.
func signedPost(t *testing.T, callback, operator string, members ...string) string {
	t.Helper()
	now := strconv.FormatInt(time.Now().Unix(), 10)
	q := url.Values{"SdkAppid": {demoApp}, "CallbackCommand": {"Group.CallbackBeforeInviteJoinGroup"},
		"contenttype": {"json"}, "RequestTime": {now}, "Sign": {ingress.Sign(shippedToken, now)}}
	ms := make([]string, len(members))
	for i, m := range members {
		ms[i] = `{"Member_Account":"` + m + `"}`
	}
	status, body := post(t, callback+"?"+q.Encode(), `{"CallbackCommand":"Group.CallbackBeforeInviteJoinGroup",`+
		`"GroupId":"@TGS#shipped","Type":"Public","Operator_Account":"`+operator+`","DestinationMembers":[`+strings.Join(ms, ",")+`]}`)
	require.Equal(t, http.StatusOK, status, body)
	return body
}

func testShippedRoles(t *testing.T, n *shippedNATS) {
	dsn := pgtest.NewDatabase(t)

	// The setup step, as the provisioning user; again: an update.
	code, out, stderr := runMain(t, nil, append([]string{"migrate", "up", "--database-url", dsn}, n.flags("migrate")...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "stream INVITEGATE_EVENTS: created")
	require.Contains(t, out, "object store invitegate_policy_snapshots: created")
	code, out, stderr = runMain(t, nil, append([]string{"migrate", "up", "--database-url", dsn}, n.flags("migrate")...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "stream INVITEGATE_POLICY: updated")

	ig := startProcess(t, append([]string{"ingress", "--sdkappid", demoApp, "--policy", "../../deploy/policy/example.yaml",
		"--callback-token", shippedToken, "--no-migrate", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--replica-id", "shipped-1", "--policy-status-interval", "200ms"}, n.flags("ingress")...)...)
	pr := startProcessUntil(t, "admin listening", append([]string{"projector", "--no-migrate", "--database-url", dsn,
		"--admin-addr", "127.0.0.1:0", "--batch-wait", "20ms", "--policy-compact-every", "1"}, n.flags("projector")...)...)

	// The empty log: the ingress serves its --policy file at revision 0,
	// without writing the log (it may not).
	status, body := get(t, "http://"+ig.admin+"/readyz")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"ready":true,"policy_revision":0,"callback_auth":"on"}`, body)
	status, _ = post(t, ig.callback+"?SdkAppid="+demoApp+"&CallbackCommand=Group.CallbackBeforeInviteJoinGroup", seedSample)
	require.Equal(t, http.StatusUnauthorized, status, "an unsigned callback is refused")
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":10101,"ErrorInfo":"You cannot invite users right now."}`,
		signedPost(t, ig.callback, "spammer1", "jared"))

	// The policy publisher changes the policy: it reaches the ingress, and
	// a rule on statistics works (aggregator -> invitegate.stats.updates ->
	// the ingress's table).
	policy := filepath.Join(t.TempDir(), "shipped.yaml")
	require.NoError(t, os.WriteFile(policy, []byte(`apiVersion: invitegate/v1
lists:
  banned_operators: [mallory]
rules:
  - name: banned-operator
    reject: operator in lists.banned_operators
    error_code: 10102
    error_info: "Not you."
  - name: flood
    reject: stats.operator_invites_1h >= 3
    error_code: 10110
    error_info: "Too many invitations."
`), 0o600))
	code, out, stderr = runMain(t, nil, append([]string{"policy", "apply", policy, "--wait", "--sdkappid", demoApp,
		"--reason", "shipped permissions"}, n.flags("policy-admin")...)...)
	require.Equal(t, exitOK, code, "%s\n%s", stderr, ig.logText())
	require.Contains(t, out, "revision 1")
	require.Contains(t, out, "1 live replicas decide with revision 1")
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":10102,"ErrorInfo":"Not you."}`, signedPost(t, ig.callback, "mallory", "jared"))
	code, out, stderr = runMain(t, nil, append([]string{"list", "add", "banned_operators", "eve", "--wait", "--sdkappid", demoApp},
		n.flags("policy-admin")...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "revisions 2..2")
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":10102,"ErrorInfo":"Not you."}`, signedPost(t, ig.callback, "eve", "jared"))
	code, out, stderr = runMain(t, nil, append([]string{"policy", "status", "--sdkappid", demoApp}, n.flags("policy-admin")...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Regexp(t, `(?m)^shipped-1 +2 +log `, out)
	// Every other command of the policy publisher works within its grant.
	for _, args := range [][]string{{"policy", "show"}, {"policy", "history"}, {"policy", "diff", "1", "2"},
		{"list", "show", "banned_operators"}, {"policy", "rollback", "1", "--wait"}} {
		code, _, stderr = runMain(t, nil, append(append(args, "--sdkappid", demoApp), n.flags("policy-admin")...)...)
		require.Equal(t, exitOK, code, "%v: %s", args, stderr)
	}
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, signedPost(t, ig.callback, "eve", "jared"),
		"rolled back to revision 1: eve is not banned")

	sent := 4 // the invites of spammer1, mallory and eve (twice) are events too
	deadline := time.Now().Add(30 * time.Second)
	pace := time.NewTicker(50 * time.Millisecond) // a paced flooder: the statistics arrive every flush
	defer pace.Stop()
	for {
		body := signedPost(t, ig.callback, "flooder", fmt.Sprintf("m%d", sent))
		sent++
		if strings.Contains(body, `"ErrorCode":10110`) {
			break
		}
		require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, body)
		require.True(t, time.Now().Before(deadline), "statistics never reached the ingress\n%s\n%s", ig.logText(), pr.logText())
		<-pace.C
	}

	// Events, the policy's revisions and the compacted snapshot are stored.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.Eventually(t, func() bool {
		var events, revisions int
		err := conn.QueryRow(ctx, `select (select count(*) from invitegate.invite_events),
			(select count(*) from invitegate.policy_revisions)`).Scan(&events, &revisions)
		return err == nil && events == sent && revisions == 3
	}, 30*time.Second, 50*time.Millisecond, "events and revisions in PostgreSQL\n%s", pr.logText())
	admin := n.connect(t, "policy-admin")
	obs, err := admin.ObjectStore(ctx, natsconn.PolicySnapshotBucket)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := obs.GetInfo(ctx, "app/"+demoApp)
		return err == nil && info.Metadata["revision"] == "3"
	}, 30*time.Second, 50*time.Millisecond, "compacted snapshot\n%s", pr.logText())

	// A new replica starts from the compacted snapshot (downloaded from the
	// Object Store as the ingress user).
	ig2 := startProcess(t, append([]string{"ingress", "--sdkappid", demoApp, "--policy", "../../deploy/policy/example.yaml",
		"--callback-token", shippedToken, "--no-migrate", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--replica-id", "shipped-2"}, n.flags("ingress")...)...)
	status, body = get(t, "http://"+ig2.admin+"/readyz")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"ready":true,"policy_revision":3,"callback_auth":"on"}`, body)
	require.Contains(t, ig2.logText(), "loaded the compacted policy snapshot")
	for _, p := range []*process{ig2, pr} { // a graceful stop (the replica removes its status) is within the grants too
		p.terminate(t)
	}

	require.Empty(t, n.violations.all(), "every role ran within its permissions")
	require.NotContains(t, ig.logText()+ig2.logText()+pr.logText(), "not provisioned")
}

// attack is one request a role must be refused.
type attack struct {
	role, what string
	subject    string // the API subject the server must refuse
	do         func(ctx context.Context, js roleClient) error
}

func testShippedAttacks(t *testing.T, n *shippedNATS) {
	const app = demoApp
	policySubject := decider.PolicySubject(app, decider.ChangeReplaced)
	evil := jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"invitegate.status.evil"},
		RePublish: &jetstream.RePublish{Source: "invitegate.status.evil", Destination: policySubject}}
	createEvil := func(ctx context.Context, js roleClient) error {
		_, err := js.CreateStream(ctx, evil)
		return err
	}
	shrinkEvents := func(ctx context.Context, js roleClient) error {
		cfg := natsconn.EventStreamConfig{}.StreamConfig()
		cfg.MaxMsgs = 1
		_, err := js.UpdateStream(ctx, cfg)
		return err
	}
	publishPolicy := func(ctx context.Context, js roleClient) error {
		_, err := js.Publish(ctx, policySubject, []byte(`{"kind":"replaced"}`))
		return err
	}
	var attacks []attack
	for _, role := range []string{"ingress", "projector", "policy-admin", "migrate"} {
		attacks = append(attacks,
			attack{role, "create a stream republishing into the policy log", "$JS.API.STREAM.CREATE.EVIL", createEvil},
			attack{role, "delete the events stream", "$JS.API.STREAM.DELETE." + decider.EventStream,
				func(ctx context.Context, js roleClient) error {
					return js.DeleteStream(ctx, decider.EventStream)
				}},
			attack{role, "purge the events stream", "$JS.API.STREAM.PURGE." + decider.EventStream,
				func(ctx context.Context, js roleClient) error {
					_, err := js.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+decider.EventStream, []byte("{}"))
					return err
				}})
		if role != "migrate" {
			attacks = append(attacks, attack{role, "update the events stream to max-msgs 1",
				"$JS.API.STREAM.UPDATE." + decider.EventStream, shrinkEvents})
		}
		if role != "policy-admin" {
			attacks = append(attacks, attack{role, "publish a policy event", policySubject, publishPolicy})
		}
	}
	attacks = append(attacks,
		attack{"ingress", "overwrite the compacted snapshot", "$O." + natsconn.PolicySnapshotBucket + ".M.YXBwLzE0MDAwMDAwMDA=",
			func(ctx context.Context, js roleClient) error {
				_, err := js.Publish(ctx, "$O."+natsconn.PolicySnapshotBucket+".M.YXBwLzE0MDAwMDAwMDA=", []byte(`{}`))
				return err
			}},
		attack{"ingress", "delete the projector's consumer", "$JS.API.CONSUMER.DELETE." + decider.EventStream + ".projector",
			func(ctx context.Context, js roleClient) error {
				return js.DeleteConsumer(ctx, decider.EventStream, "projector")
			}},
		attack{"ingress", "read a replica's policy status (it only writes its own)",
			"$JS.API.DIRECT.GET.KV_" + natsconn.PolicyStatusBucket + ".$KV." + natsconn.PolicyStatusBucket + "." + app + ".shipped-1",
			func(ctx context.Context, js roleClient) error {
				kv, err := js.KeyValue(ctx, natsconn.PolicyStatusBucket)
				if err != nil {
					return err
				}
				_, err = kv.Get(ctx, app+".shipped-1")
				return err
			}},
		attack{"projector", "forge a replica's policy status", "$KV." + natsconn.PolicyStatusBucket + "." + app + ".forged",
			func(ctx context.Context, js roleClient) error {
				_, err := js.Publish(ctx, "$KV."+natsconn.PolicyStatusBucket+"."+app+".forged", []byte(`{"revision":99}`))
				return err
			}},
		attack{"migrate", "publish an event", decider.EventSubject(app, decider.KindInvite),
			func(ctx context.Context, js roleClient) error {
				_, err := js.Publish(ctx, decider.EventSubject(app, decider.KindInvite), []byte("{}\n"))
				return err
			}},
		attack{"policy-admin", "publish an event", decider.EventSubject(app, decider.KindInvite),
			func(ctx context.Context, js roleClient) error {
				_, err := js.Publish(ctx, decider.EventSubject(app, decider.KindInvite), []byte("{}\n"))
				return err
			}},
	)

	before := streamStates(t, n)
	clients := map[string]roleClient{}
	for _, role := range []string{"ingress", "projector", "policy-admin", "migrate"} {
		clients[role] = n.connect(t, role, nats.Name("attack-"+role))
	}
	errs := make([]error, len(attacks))
	var wg sync.WaitGroup
	for i, a := range attacks { // denied requests get no answer: wait for them together
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			errs[i] = a.do(ctx, clients[a.role])
		})
	}
	wg.Wait()
	for i, a := range attacks {
		require.Error(t, errs[i], "%s may %s", a.role, a.what)
		require.True(t, n.violations.refused(a.role, a.subject), "%s: %s: the server did not refuse %s\n%v",
			a.role, a.what, a.subject, n.violations.all())
	}
	require.Equal(t, before, streamStates(t, n), "nothing changed")
	acc, err := n.srv.LookupAccount("INVITEGATE")
	require.NoError(t, err)
	require.Equal(t, 4, acc.JetStreamUsage().Streams, "events, policy, status and snapshots: no stream EVIL")
}

// streamStates returns, per stream, its message count and limits, as the
// provisioning user sees them.
func streamStates(t *testing.T, n *shippedNATS) map[string]string {
	t.Helper()
	js := n.connect(t, "migrate")
	out := map[string]string{}
	for _, name := range []string{decider.EventStream, decider.PolicyStream} {
		s, err := js.Stream(context.Background(), name)
		require.NoError(t, err)
		info := s.CachedInfo()
		out[name] = fmt.Sprintf("msgs=%d max_msgs=%d max_age=%s republish=%v", info.State.Msgs, info.Config.MaxMsgs,
			info.Config.MaxAge, info.Config.RePublish)
	}
	return out
}
