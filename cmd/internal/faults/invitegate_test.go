package faults_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
)

func TestStartInvitegateRoles(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := binaries(t).Invitegate

	// An ingress without events logs both addresses; its metrics scrape.
	var lines int
	ig, err := faults.StartInvitegate(ctx, bin, "ingress", func(string) { lines++ }, "--sdkappid", app, "--events-off", "--insecure-allow-unsigned",
		"--policy", policyFile(t), "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ig.Kill() })
	require.True(t, strings.HasPrefix(ig.Callback, "http://127.0.0.1:"), ig.Callback)
	m, err := faults.Scrape(ctx, ig.MetricsURL())
	require.NoError(t, err)
	require.Positive(t, m["invitegate_policy_loaded"])
	require.NoError(t, ig.Kill())
	require.Error(t, ig.ExitErr(), "killed")
	require.Positive(t, lines)

	// A role that fails at start is reported with its output.
	_, err = faults.StartInvitegate(ctx, bin, "ingress", nil, "--http-addr", "127.0.0.1:0")
	require.ErrorIs(t, err, faults.ErrNotReady)
	require.ErrorContains(t, err, "--sdkappid")
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	m, err := faults.ParseMetrics(strings.NewReader(`# HELP x y
# TYPE a counter
a_total{k="1"} 2
a_total{k="2",s="a b"} 3 1700000000
go_goroutines 7
`))
	require.NoError(t, err)
	require.Equal(t, 5.0, m.Sum("a_total"))
	require.Equal(t, 7.0, m["go_goroutines"])
	require.Equal(t, 3.0, m[`a_total{k="2",s="a b"}`])
	_, err = faults.ParseMetrics(strings.NewReader("x notanumber\n"))
	require.ErrorContains(t, err, "value of")
	_, err = faults.ParseMetrics(strings.NewReader("x{a=\"1\"}\n"))
	require.ErrorContains(t, err, "no value")
}

func TestProcessNotReadyInTime(t *testing.T) {
	t.Parallel()
	_, err := faults.StartProcess(context.Background(), faults.ProcessConfig{Name: "sleeper", Path: "sleep", Args: []string{"10"},
		Ready: func(string) bool { return false }, ReadyTimeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, faults.ErrNotReady)
	require.ErrorContains(t, err, "not ready within")
}
