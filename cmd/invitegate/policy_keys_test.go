package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress/policyfeed"
)

// tool runs a standard tool (openssl, ssh-keygen) and returns its stdout.
func tool(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "%s %v: %s", name, args, stderr)
	return string(out)
}

// TestKeygenWritesStandardFormats: the pair keygen writes is read by
// openssl and ssh-keygen, which agree on the key id; a key openssl makes
// signs events the trust file of its PEM public key verifies.
func TestKeygenWritesStandardFormats(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	out := b.ok(t, "", "policy", "keygen", "--out", filepath.Join(b.dir, "alice"))
	require.Contains(t, out, "key id SHA256:")
	st, err := os.Stat(filepath.Join(b.dir, "alice.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pub, err := os.ReadFile(filepath.Join(b.dir, "alice.pub"))
	require.NoError(t, err)
	require.Regexp(t, `^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\S+ alice\n$`, string(pub))
	code, _, stderr := b.run(t, "", "policy", "keygen", "--out", filepath.Join(b.dir, "alice"))
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "exists")

	key, err := loadSigningKey(filepath.Join(b.dir, "alice.key"))
	require.NoError(t, err)
	require.Contains(t, out, key.ID())
	fields := strings.Fields(tool(t, b.dir, "ssh-keygen", "-lf", "alice.pub"))
	require.Equal(t, key.ID(), fields[1], "ssh-keygen prints the same key id")
	pem := tool(t, b.dir, "openssl", "pkey", "-in", "alice.key", "-pubout")
	trust, err := decider.ParseTrust([]byte(pem), "openssl")
	require.NoError(t, err)
	require.Equal(t, key.ID(), trust.Keys()[0].ID)

	// A key made by openssl, used by the CLI; the raw recipe of the README
	// (openssl pkeyutl) gives a signature the trust accepts.
	tool(t, b.dir, "openssl", "genpkey", "-algorithm", "ed25519", "-out", "bob.key")
	bob, err := loadSigningKey(filepath.Join(b.dir, "bob.key"))
	require.NoError(t, err)
	bobTrust, err := decider.ParseTrust([]byte(tool(t, b.dir, "openssl", "pkey", "-in", "bob.key", "-pubout")), "bob")
	require.NoError(t, err)
	subject := decider.PolicySubject(demoApp, decider.ChangeListAdded)
	body := `{"kind":"list.added","list":"banned","ids":["u1"]}`
	require.NoError(t, os.WriteFile(filepath.Join(b.dir, "signed-input"), decider.EventSigningInput(demoApp, subject, []byte(body)), 0o600))
	sig := strings.TrimSpace(tool(t, b.dir, "sh", "-c", "openssl pkeyutl -sign -inkey bob.key -rawin -in signed-input | base64 -w0"))
	author, err := bobTrust.VerifyEvent(demoApp, subject, 1, []byte(body), bob.ID(), sig)
	require.NoError(t, err)
	require.Equal(t, bob.ID(), author)
	recipe := strings.TrimSpace(tool(t, b.dir, "sh", "-c",
		`printf '%s' '`+body+`' > event.json && printf 'invitegate-policy-event/v1\n%s\n%s\n%s' "`+demoApp+`" "`+subject+`" "$(sha256sum < event.json | cut -d' ' -f1)" | cmp - signed-input && echo same`))
	require.Equal(t, "same", recipe, "the README's printf builds the signed input")
}

// TestSignedPolicyCLI: with trust, the CLI signs what it publishes (the
// author is the key), refuses to publish unsigned or with an untrusted
// key, and its history shows a forged event rejected with its reason while
// the replica keeps the signed policy.
func TestSignedPolicyCLI(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.ok(t, "", "policy", "keygen", "--out", filepath.Join(b.dir, "alice"))
	b.ok(t, "", "policy", "keygen", "--out", filepath.Join(b.dir, "mallory"))
	trustFile := filepath.Join(b.dir, "alice.pub")
	trust, err := loadTrust([]string{trustFile})
	require.NoError(t, err)
	engine := decider.NewEngine(decider.FailOpen, nil)
	reg := prometheus.NewRegistry()
	f, err := policyfeed.New(policyfeed.Config{App: demoApp, DataDir: t.TempDir(), ReplicaID: "signed", Trust: trust},
		b.js, engine, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	require.NoError(t, f.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, f.Stop(context.Background())) })

	v1 := b.file(t, "v1.yaml", cliPolicy)
	b.env["INVITEGATE_POLICY_TRUST"] = trustFile
	code, _, stderr := b.run(t, "", "policy", "apply", v1)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "give --signing-key")
	code, _, stderr = b.run(t, "", "policy", "apply", v1, "--signing-key", filepath.Join(b.dir, "mallory.key"))
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "is not trusted")

	b.env["INVITEGATE_SIGNING_KEY"] = filepath.Join(b.dir, "alice.key")
	b.ok(t, "", "policy", "apply", v1, "--wait")
	b.ok(t, "", "list", "add", "banned", "spammer", "--wait")

	// A forged event from a plain NATS client with the publisher's rights.
	nc, err := nats.Connect(b.env["INVITEGATE_NATS_URL"])
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Request(decider.PolicySubject(demoApp, decider.ChangeListRemoved), []byte(`{"kind":"list.removed","list":"banned","ids":["spammer"]}`), 5e9)
	require.NoError(t, err)
	b.ok(t, "", "list", "remove", "banned", "nobody", "--wait")
	b.ok(t, "", "policy", "rollback", "1", "--wait")

	hist := b.ok(t, "", "policy", "history")
	key, err := loadSigningKey(filepath.Join(b.dir, "alice.key"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^1 .* replaced +alice `+regexpQuote(key.ID())+` .* applied$`, hist)
	require.Regexp(t, `(?m)^3 .* list.removed .* rejected \(unsigned\)`, hist)
	require.Regexp(t, `(?m)^5 .* replaced .* applied$`, hist)
	require.Equal(t, "spammer\n", b.ok(t, "", "list", "show", "banned"), "the forged removal is not folded")
	require.Equal(t, decider.OutcomePartial, engine.Decide(&decider.Request{App: demoApp, Operator: "x", Members: []string{"spammer", "ok"}}).Outcome)
}

func regexpQuote(s string) string {
	r := strings.NewReplacer(`+`, `\+`, `/`, `\/`, `.`, `\.`)
	return r.Replace(s)
}

// TestPolicyFilesThatOnceBrokeReplicas: a YAML file with "\u0092" in an
// error_info is applied and every replica decides with it; a file of
// aliases is refused by check and apply, before anything is published.
func TestPolicyFilesThatOnceBrokeReplicas(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	f, engine := b.follower(t, "c1")
	c1 := b.file(t, "c1.yaml", "apiVersion: invitegate/v1\nrules:\n  - name: all\n    reject: operator == 'x'\n    error_code: 10101\n    error_info: \"can\\u0092t\"\n")
	b.ok(t, "", "policy", "check", c1)
	b.ok(t, "", "policy", "apply", c1)
	require.NoError(t, f.WaitRevision(context.Background(), 1))
	require.Equal(t, "can\u0092t", engine.Snapshot().Document().Rules[0].ErrorInfo)
	_, engine2 := b.follower(t, "c2")
	require.Eventually(t, func() bool { return engine2.Snapshot() != nil }, 20e9, 1e7, "a new replica reads it too")

	aliases := b.file(t, "alias.yaml", "apiVersion: invitegate/v1\nlists:\n  a: &x [u1]\n  b: *x\nrules: []\n")
	for _, cmd := range []string{"check", "apply"} {
		code, _, stderr := b.run(t, "", "policy", cmd, aliases)
		require.Equal(t, exitFailure, code)
		require.Contains(t, stderr, "YAML aliases (*x) are not allowed")
	}
	require.Equal(t, uint64(1), f.Revision(), "nothing more was published")
}
