package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

// TestBenchAnalyticsTimesTheDashboard runs bench analytics on a small load:
// besides the documented queries it times every query of the invite-trends
// dashboard over 7 and 30 days, the lookup by member and by operator, and
// invitegate.decisions, each finding rows.
func TestBenchAnalyticsTimesTheDashboard(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"bench", "analytics", "--database-url", pgtest.NewDatabase(t),
		"--events", "30000", "--runs", "1"}, &stdout, &stderr)
	out := stdout.String()
	require.Equal(t, 0, code, stderr.String()+out)
	for _, want := range []string{"7d Invites per hour by platform", "30d Top inviters by day",
		"30d Decision lookup (member)", "30d Decision lookup (operator)", "30d decisions(p_member)",
		"30d decisions(p_operator)", "30d annotation: Policy changes", "30d variable: app"} {
		require.Contains(t, out, want)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Decision lookup") || strings.Contains(line, "decisions(") {
			require.NotContains(t, line, " 0 rows", line)
		}
	}
}
