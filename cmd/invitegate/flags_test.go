package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

func TestFlagsBeforeOrAfterArguments(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"add", "--wait", "NAME", "-n", "3", "-", "--", "--odd-id"},
		{"--wait", "-n=3", "add", "NAME", "-", "--", "--odd-id"},
		{"add", "NAME", "-", "-n", "3", "--wait=true", "--", "--odd-id"},
	} {
		var wait bool
		var n int
		f := newFlags("x", "x", "", func(string) string { return "" })
		f.Bool(&wait, "wait", false, "")
		f.Int(&n, "n", 0, "")
		rest, err := f.parse(args, &bytes.Buffer{})
		require.NoError(t, err, "%v", args)
		require.Equal(t, []string{"add", "NAME", "-", "--odd-id"}, rest, "%v", args)
		require.True(t, wait, "%v", args)
		require.Equal(t, 3, n, "%v", args)
	}
}

func TestFlagsUnknownAfterArgumentsIsAUsageError(t *testing.T) {
	t.Parallel()
	code, _, stderr := runMain(t, nil, "migrate", "status", "--bogus", "x")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "flag provided but not defined: -bogus")
}

// Every command takes its flags before or after its arguments.
func TestMigrateFlagsAfterSubcommand(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	code, out, stderr := runMain(t, nil, "migrate", "up", "--database-url", dsn)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "00001_events.sql")
	code, out, stderr = runMain(t, nil, "migrate", "--database-url", dsn, "status")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "00001_events.sql")
	code, _, stderr = runMain(t, map[string]string{"INVITEGATE_DATABASE_URL": dsn}, "migrate", "status", "--database-url="+dsn)
	require.Equal(t, exitOK, code, stderr)
}
