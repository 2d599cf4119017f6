package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress/policyfeed"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
)

// cliBundle is a JetStream server listening on a free port and the
// environment that points the CLI at it.
type cliBundle struct {
	env map[string]string
	js  jetstream.JetStream
	dir string
}

func setupCLI(t testing.TB) *cliBundle {
	t.Helper()
	srv := natstest.Start(t, "127.0.0.1:0")
	_, js := natstest.Connect(t, srv)
	return &cliBundle{env: map[string]string{"INVITEGATE_NATS_URL": srv.ClientURL(), "INVITEGATE_SDKAPPID": demoApp,
		"USER": "tester"}, js: js, dir: t.TempDir()}
}

// run runs the CLI with stdin and returns its exit code, stdout and stderr.
func (b *cliBundle) run(t testing.TB, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return b.env[k] }})
	return code, out.String(), errb.String()
}

func (b *cliBundle) ok(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	code, out, stderr := b.run(t, stdin, args...)
	require.Equal(t, exitOK, code, "%v: %s", args, stderr)
	return out
}

func (b *cliBundle) file(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(b.dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// follower starts an in-process ingress replica following the log.
func (b *cliBundle) follower(t testing.TB, id string) (*policyfeed.Follower, *decider.Engine) {
	t.Helper()
	engine := decider.NewEngine(decider.FailOpen, nil)
	f, err := policyfeed.New(policyfeed.Config{App: demoApp, DataDir: t.TempDir(), ReplicaID: id},
		b.js, engine, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, f.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, f.Stop(context.Background())) })
	return f, engine
}

const cliPolicy = `apiVersion: invitegate/v1
lists:
  banned: []
  staff: [admin]
rules:
  - name: banned-member
    refuse_member: member in lists.banned && !(member in lists.staff)
`

func TestPolicyLogCLI(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	v1 := b.file(t, "v1.yaml", cliPolicy)
	v2 := b.file(t, "v2.yaml", strings.Replace(cliPolicy, "staff: [admin]", "staff: [admin, ops]", 1))

	require.Equal(t, "applied "+v1+": revision 1\n", b.ok(t, "", "policy", "apply", v1, "--reason", "first"))
	require.Contains(t, b.ok(t, "u1\n\n# a comment\n  u2  \nu3\n", "list", "add", "banned", "-", "u4", "--batch-ids", "2"),
		"list banned: added 4 ids in 2 events, revisions 2..3")
	b.ok(t, "", "list", "remove", "banned", "u2")
	require.Equal(t, "applied "+v2+": revision 5\n", b.ok(t, "", "policy", "apply", "--author", "bob", v2))
	require.Equal(t, "u1\nu3\nu4\n", b.ok(t, "", "list", "show", "banned"))
	require.Equal(t, "u1\nu2\nu3\nu4\n", b.ok(t, "", "list", "show", "banned", "--revision", "3"))

	show := b.ok(t, "", "policy", "show")
	require.Contains(t, show, "# app 1400000000, revision 5\n# list banned: 3 entries\n# list staff: 2 entries\n")
	require.Contains(t, show, "- ops")
	require.NotContains(t, b.ok(t, "", "policy", "show", "--revision", "4"), "ops")

	hist := b.ok(t, "", "policy", "history")
	require.Regexp(t, `(?m)^1 .* replaced +tester@\S+ +1 rules, 2 lists +applied$`, hist)
	require.Regexp(t, `(?m)^3 .* list.added .* banned \+2 ids +applied$`, hist)
	require.Regexp(t, `(?m)^5 .* replaced +bob `, hist)
	require.Len(t, strings.Split(strings.TrimSpace(b.ok(t, "", "policy", "history", "--limit", "2")), "\n"), 3)

	diff := b.ok(t, "", "policy", "diff", "1", "5")
	require.Contains(t, diff, "--- revision 1 (in force: 1)\n+++ revision 5 (in force: 5)\n")
	require.Regexp(t, `(?m)^\+ +- ops$`, diff)
	require.Contains(t, diff, "list banned: 0 -> 3 entries, +3 -0\n  + u1\n")
	require.Regexp(t, `(?m)^- +- ops$`, b.ok(t, "", "policy", "diff", "5", "4"))

	// Rollback to revision 1 restores its document; banned keeps its entries.
	require.Equal(t, "rolled back to the document of revision 1: revision 6\n", b.ok(t, "", "policy", "rollback", "1"))
	require.Equal(t, "admin\n", b.ok(t, "", "list", "show", "staff"))
	require.Equal(t, "u1\nu3\nu4\n", b.ok(t, "", "list", "show", "banned"))
	require.Regexp(t, `(?m)^6 .* replaced .* 1 rules, 2 lists, rollback to 1 +applied$`, b.ok(t, "", "policy", "history"))
	require.Contains(t, b.ok(t, "", "policy", "status"), "app 1400000000: newest event 6\n")
}

// TestPolicyLogCLIRefusesWhatWouldNotValidate: nothing invalid is
// published, and an event published by another client that the replicas
// reject shows as rejected in the history.
func TestPolicyLogCLIRefusesWhatWouldNotValidate(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	code, _, stderr := b.run(t, "", "list", "add", "banned", "x")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "no policy yet")

	bad := b.file(t, "bad.yaml", "apiVersion: invitegate/v1\nrules: [{name: x, reject: 'operator in lists.nope'}]\n")
	code, _, stderr = b.run(t, "", "policy", "apply", bad)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "is invalid")
	require.Contains(t, stderr, `undefined list "nope"`)

	b.ok(t, "", "policy", "apply", b.file(t, "ok.yaml", cliPolicy))
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"list", "add", "bots", "x"}, `list "bots" is not in the policy`},
		{"a\nb\x01c\n", []string{"list", "add", "banned", "-"}, "stdin line 2: id \"b\\x01c\" has a control character (nothing was published)"},
		{"", []string{"list", "remove", "banned", "x\ty"}, "ID 1: id \"x\\ty\" has a control character"},
		{"", []string{"list", "add", "banned"}, "want NAME and at least one ID"},
		{"\n\n", []string{"list", "add", "banned", "-"}, "no ids given"},
		{"", []string{"policy", "rollback", "9"}, "revision 9 is beyond the newest event"},
		{"", []string{"policy", "rollback", "x"}, `revision "x": want a positive integer`},
		{"", []string{"list", "show", "nope"}, `list "nope" is not in the policy at revision 1`},
		{"", []string{"list", "frob"}, `unknown subcommand "frob"`},
	} {
		code, _, stderr := b.run(t, c.stdin, c.args...)
		require.NotEqual(t, exitOK, code, "%v", c.args)
		require.Contains(t, stderr, c.want, "%v", c.args)
	}
	require.Contains(t, b.ok(t, "", "policy", "status"), "newest event 1\n", "nothing else was published")

	_, err := b.js.Publish(context.Background(), decider.PolicySubject(demoApp, decider.ChangeListAdded),
		[]byte(`{"kind":"list.added","list":"ghost","ids":["x"]}`))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^2 .* ghost \+1 ids +rejected \(unknown_list\): list "ghost" is not in the policy`, b.ok(t, "", "policy", "history"))

	delete(b.env, "INVITEGATE_NATS_URL")
	code, _, stderr = b.run(t, "", "policy", "show")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--nats-url (or INVITEGATE_NATS_URL) is required")
}

// TestPolicyApplyWait: --wait returns once every live replica decides with
// the new revision.
func TestPolicyApplyWait(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	p := b.file(t, "p.yaml", cliPolicy)
	out := b.ok(t, "", "policy", "apply", p, "--wait")
	require.Contains(t, out, "revision 1")
	var fs []*policyfeed.Follower
	for _, id := range []string{"a", "b", "c"} {
		f, _ := b.follower(t, id)
		fs = append(fs, f)
	}
	// --wait counts the replicas that have reported; wait until all three
	// have, so that a slow first report on a loaded machine is not a flake.
	require.Eventually(t, func() bool {
		code, status, _ := b.run(t, "", "policy", "status")
		if code != exitOK {
			return false
		}
		for _, id := range []string{"a", "b", "c"} {
			if !regexp.MustCompile(`(?m)^` + id + ` +1 +log `).MatchString(status) {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "three replicas report revision 1")
	out = b.ok(t, "", "list", "add", "banned", "u1", "--wait")
	require.Regexp(t, `3 live replicas decide with revision 2 after \S+`, out)
	for _, f := range fs {
		require.GreaterOrEqual(t, f.Revision(), uint64(2))
	}
	status := b.ok(t, "", "policy", "status")
	for _, id := range []string{"a", "b", "c"} {
		require.Regexp(t, `(?m)^`+id+` +2 +log `, status)
	}
}

// TestValidateAppWithPolicyLog checks the fx graph of every role with the
// policy log on.
func TestValidateAppWithPolicyLog(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	in := &ingressOptions{failMode: "open", policyFile: "../../deploy/policy/example.yaml"}
	in.cfg.SdkAppID = "1"
	for name, c := range natsRoles(in) {
		pl := &policyOptions{ingress: true, projector: true, startWait: time.Second}
		c.policy = pl.enable(c, t.TempDir())
		require.NotNil(t, c.policy, name)
		require.NoError(t, fx.ValidateApp(appOptions(c, logger)...), name)
	}
	require.Nil(t, (&policyOptions{}).enable(appConfig{ingress: in}, ""), "no NATS, no policy log")
}

func TestPolicyHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"policy apply", "policy show", "policy history", "policy diff", "policy rollback",
		"policy status", "list add", "list remove", "list show"} {
		code, out, _ := runMain(t, nil, append(strings.Fields(cmd), "--help")...)
		require.Equal(t, exitOK, code, cmd)
		require.Contains(t, out, "Usage: invitegate "+cmd, cmd)
		require.Contains(t, out, "env INVITEGATE_NATS_URL", cmd)
	}
	_, out, _ := runMain(t, nil, "policy", "--help")
	for name := range policySubcommands {
		require.Contains(t, out, fmt.Sprintf("  %-9s ", name))
	}
}

// The CLI creates the policy log's stream and buckets only when missing; it
// never changes existing ones (the policy publisher may not), whatever its
// flags say.
func TestCLIUsesTheLogAsItIs(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	_, err := natsconn.EnsurePolicyStores(t.Context(), b.js, natsconn.PolicyStreamConfig{StatusTTL: 30 * time.Second, Duplicates: time.Minute})
	require.NoError(t, err)
	b.ok(t, "", "policy", "history")
	s, err := b.js.Stream(t.Context(), decider.PolicyStream)
	require.NoError(t, err)
	require.Equal(t, time.Minute, s.CachedInfo().Config.Duplicates, "not updated to the CLI's default")
	kv, err := b.js.KeyValue(t.Context(), natsconn.PolicyStatusBucket)
	require.NoError(t, err)
	st, err := kv.Status(t.Context())
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, st.TTL())
}
