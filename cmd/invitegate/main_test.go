package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/deploy"
)

// runMain runs Main with the given environment and returns its exit code,
// stdout and stderr.
func runMain(t *testing.T, envv map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return envv[k] },
	})
	return code, out.String(), errb.String()
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "INVITEGATE_SDKAPPID", EnvName("sdkappid"))
	require.Equal(t, "INVITEGATE_MAX_CLOCK_SKEW", EnvName("max-clock-skew"))
}

func TestFlagsEnvironmentAndPrecedence(t *testing.T) {
	t.Parallel()
	var in ingressOptions
	f := newFlags("x", "x", "", func(k string) string {
		return map[string]string{"INVITEGATE_SDKAPPID": "from-env", "INVITEGATE_HTTP_ADDR": "127.0.0.1:1"}[k]
	})
	in.register(f)
	_, err := f.parse([]string{"--http-addr", "127.0.0.1:2"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "from-env", in.cfg.SdkAppID, "environment sets a flag")
	require.Equal(t, "127.0.0.1:2", in.cfg.HTTPAddr, "the flag wins over the environment")
}

func TestBadEnvironmentValueIsAUsageError(t *testing.T) {
	t.Parallel()
	code, _, stderr := runMain(t, map[string]string{"INVITEGATE_MAX_BODY_BYTES": "lots"}, "ingress", "--sdkappid", "1")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `INVITEGATE_MAX_BODY_BYTES="lots"`)
}

func TestHelpListsEveryFlagWithItsVariable(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"run", "ingress", "projector", "migrate", "loadgen", "policy check"} {
		args := append(strings.Fields(cmd), "--help")
		code, out, _ := runMain(t, nil, args...)
		require.Equal(t, exitOK, code, cmd)
		require.Contains(t, out, "Usage: invitegate "+cmd, cmd)
		for _, line := range strings.Split(out, "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "--"); ok {
				name = strings.Fields(name)[0]
				require.Contains(t, out, "env "+EnvName(name), "%s --%s", cmd, name)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{nil, "Usage: invitegate <command>"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"run"}, "--sdkappid (or INVITEGATE_SDKAPPID) is required"},
		{[]string{"ingress", "--sdkappid", "1", "--fail-mode", "maybe"}, `--fail-mode "maybe"`},
		{[]string{"ingress", "--sdkappid", "1", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"ingress", "--sdkappid", "1"}, "--callback-token (or INVITEGATE_CALLBACK_TOKEN) is required"},
		{[]string{"ingress", "--sdkappid", "1"}, "--insecure-allow-unsigned"},
		{[]string{"projector"}, "--nats-url (or INVITEGATE_NATS_URL) is required"},
		{[]string{"migrate"}, "want one of up, down, status"},
		{[]string{"migrate", "sideways"}, `unknown subcommand "sideways"`},
		{[]string{"policy"}, "a subcommand is required"},
		{[]string{"policy", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"policy", "check"}, "want exactly one FILE"},
	}
	for _, c := range cases {
		code, out, stderr := runMain(t, nil, c.args...)
		require.Equal(t, exitUsage, code, "%v", c.args)
		require.Contains(t, out+stderr, c.want, "%v", c.args)
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	code, out, _ := runMain(t, nil, "policy", "check", "../../deploy/policy/example.yaml")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "ok (5 rules, 3 lists)")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`apiVersion: invitegate/v1
lists: {banned: [x]}
rules:
  - name: Bad_Name
    reject: operator in lists.bannd
    error_code: 7
`), 0o600))
	code, _, stderr := runMain(t, nil, "policy", "check", bad)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "is invalid")
	require.Contains(t, stderr, "Bad_Name")
	require.Contains(t, stderr, `"bannd"`)
	require.Contains(t, stderr, "7")

	code, _, stderr = runMain(t, nil, "policy", "check", filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "no such file")
}

// TestPolicyCheckRefusesCostlyRule: a rule quadratic in the members is
// refused at check time, naming it (the same compile guards apply, the
// policy log's follower and --policy).
func TestPolicyCheckRefusesCostlyRule(t *testing.T) {
	t.Parallel()
	costly := filepath.Join(t.TempDir(), "costly.yaml")
	require.NoError(t, os.WriteFile(costly, []byte(`apiVersion: invitegate/v1
rules:
  - name: dup-member
    refuse_member: members.filter(m, m == member).size() > 1
`), 0o600))
	code, _, stderr := runMain(t, nil, "policy", "check", costly)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, `rule "dup-member"`)
	require.Contains(t, stderr, "too costly")
}

func TestRunRefusesAnInvalidPolicy(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: invitegate/v1\nrules: [{name: x, reject: 'operator +'}]\n"), 0o600))
	code, _, stderr := runMain(t, nil, "ingress", "--events-off", "--insecure-allow-unsigned", "--sdkappid", "1", "--policy", bad,
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "is invalid")
}

// TestValidateApp checks the fx graph of every role combination without
// starting anything.
func TestValidateApp(t *testing.T) {
	t.Parallel()
	logger, err := newLogger(&bytes.Buffer{}, "json", "info")
	require.NoError(t, err)
	in := &ingressOptions{failMode: "open"}
	in.cfg.SdkAppID = "1"
	configs := natsRoles(in)
	configs["ingress-no-event"] = appConfig{ingress: in}
	for name, c := range configs {
		require.NoError(t, fx.ValidateApp(appOptions(c, logger)...), name)
	}
}

// natsRoles returns the configuration of each role with NATS: run,
// ingress (with in) and projector.
func natsRoles(in *ingressOptions) map[string]appConfig {
	return map[string]appConfig{
		"run":       {ingress: in, nats: &natsOptions{}, outbox: &outboxOptions{}, projector: &projectorOptions{}},
		"ingress":   {ingress: in, nats: &natsOptions{}, outbox: &outboxOptions{}},
		"projector": {nats: &natsOptions{}, projector: &projectorOptions{}, admin: &adminOptions{}},
	}
}

// TestReadmeConfigReference fails when README.md's configuration reference
// drifts from the flags: run `make docs` to regenerate it.
func TestReadmeConfigReference(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	s := string(data)
	i, j := strings.Index(s, configBegin), strings.Index(s, configEnd)
	require.True(t, i >= 0 && j > i, "README.md lacks the generated configuration reference markers")
	require.Equal(t, configReference(), s[i:j+len(configEnd)], "README.md's configuration reference is stale: run `make docs`")
}

// TestDeployEnvironmentVariablesAreFlags fails when a manifest or the
// compose file sets an INVITEGATE_* variable that no command reads (the
// binary would silently ignore it).
func TestDeployEnvironmentVariablesAreFlags(t *testing.T) {
	t.Parallel()
	names, err := deploy.EnvNames()
	require.NoError(t, err)
	require.NotEmpty(t, names)
	ref := configReference()
	for _, n := range names {
		require.Contains(t, ref, "env "+n, "deploy/ sets %s, which no invitegate command reads", n)
	}
}

// A signal while the process starts stops it like one after: exit 0.
func TestSignalWhileStartingIsAStop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, []string{"ingress", "--events-off", "--insecure-allow-unsigned", "--sdkappid", "1",
		"--policy", "../../deploy/policy/example.yaml", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"},
		env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
	require.Equal(t, exitOK, code, errb.String())
	require.Contains(t, errb.String(), "stopped while starting")
}
