package ingress

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRemovedRulesLeaveMetrics: once a policy renames its rules, the old
// rules' series leave /metrics, even without a callback in between; a rule
// whose mode changed keeps only its new mode's series.
func TestRemovedRulesLeaveMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, b)
	c := client(t)
	metrics := "http://" + srv.AdminAddr().String() + "/metrics"
	policy := func(prefix, mode string, n int) string {
		var sb strings.Builder
		sb.WriteString("apiVersion: invitegate/v1\nrules:\n")
		for i := range n {
			fmt.Fprintf(&sb, "  - name: %s-%d\n    reject: operator == 'x%d'\n    mode: %s\n", prefix, i, i, mode)
		}
		return sb.String()
	}
	loadPolicy(t, b.h.engine, policy("old", "enforce", 50), 1)
	resp, err := c.Post(callbackURL(srv), "", strings.NewReader(seedSample))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, body, _ := get(t, c, metrics)
	require.Contains(t, body, `invitegate_rule_matches_total{mode="enforce",rule="old-49"} 0`)

	loadPolicy(t, b.h.engine, policy("new", "shadow", 50), 2)
	status, body, _ := get(t, c, metrics)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, body, `rule="old-`, "renamed rules leave /metrics")
	require.Contains(t, body, `invitegate_rule_matches_total{mode="shadow",rule="new-0"} 0`)
	require.Contains(t, body, `invitegate_rule_errors_total{rule="new-49"} 0`)

	loadPolicy(t, b.h.engine, policy("new", "enforce", 1), 3)
	_, body, _ = get(t, c, metrics)
	require.NotContains(t, body, `mode="shadow",rule="new-0"`, "the old mode's series is gone")
	require.Contains(t, body, `invitegate_rule_matches_total{mode="enforce",rule="new-0"} 0`)
	require.NotContains(t, body, `rule="new-1"`)
}

// TestReadyzSaysWhenThePolicyMayBeOld: an engine marked unready answers
// 503 with the reason, though it decides with what it has.
func TestReadyzSaysWhenThePolicyMayBeOld(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := startServer(t, b)
	c := client(t)
	admin := "http://" + srv.AdminAddr().String()
	b.h.engine.SetUnready(`the policy snapshot on disk cannot be used ("x")`)
	status, body, _ := get(t, c, admin+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, `{"ready":false,"reason":"the policy snapshot on disk cannot be used (\"x\")","policy_revision":7,"callback_auth":"off"}`, body)
	b.h.engine.SetUnready("")
	status, _, _ = get(t, c, admin+"/readyz")
	require.Equal(t, http.StatusOK, status)
}
