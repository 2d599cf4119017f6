package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// exported is every metric family invitegate registers (the brief's shared
// names, plus the outbox's spool corruption counter).
var exported = []string{
	"invitegate_callbacks_total", "invitegate_callback_duration_seconds", "invitegate_decision_duration_seconds",
	"invitegate_callback_errors_total", "invitegate_rule_matches_total", "invitegate_rule_errors_total",
	"invitegate_policy_revision", "invitegate_policy_loaded", "invitegate_fail_mode_decisions_total",
	"invitegate_events_enqueued_total", "invitegate_events_published_total", "invitegate_events_dropped_total",
	"invitegate_outbox_events", "invitegate_spool_bytes", "invitegate_spool_events",
	"invitegate_spool_corrupt_records_total", "invitegate_publish_batches_total",
	"invitegate_publish_batch_duration_seconds", "invitegate_projector_events_total",
	"invitegate_projector_batches_total", "invitegate_projector_batch_duration_seconds",
	"invitegate_projector_lag_seconds", "invitegate_projector_pending_messages",
	"invitegate_projector_dead_letters_total", "invitegate_projector_duplicates_total",
	"invitegate_event_durability_total",
	"invitegate_policy_follow_errors_total", "invitegate_policy_snapshot_load_errors_total",
	"invitegate_policy_events_rejected_total", "invitegate_policy_revision_errors_total",
	"invitegate_policy_compactor_errors_total", "invitegate_policy_snapshots_refused_total",
}

var histograms = []string{"invitegate_callback_duration_seconds", "invitegate_decision_duration_seconds",
	"invitegate_publish_batch_duration_seconds", "invitegate_projector_batch_duration_seconds"}

// family maps a series name to its metric family (histogram series carry a suffix).
func family(name string) string {
	for _, h := range histograms {
		if name == h+"_bucket" || name == h+"_sum" || name == h+"_count" {
			return h
		}
	}
	return name
}

func TestMetricNamesAreExportedFamilies(t *testing.T) {
	t.Parallel()
	names, err := MetricNames()
	require.NoError(t, err)
	var families []string
	for _, n := range names {
		require.Contains(t, exported, family(n), "%s is not a metric invitegate exports", n)
		families = append(families, family(n))
	}
	// The dashboard and the alerts together read every family.
	require.ElementsMatch(t, exported, slices.Compact(families))
	require.True(t, slices.IsSorted(names))
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(AlertsFile)
	require.NoError(t, err)
	groups, err := ParseRules(AlertsFile, data)
	require.NoError(t, err)
	guide := runbookText(t)
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "%s: only alerting rules here", g.Name)
			require.False(t, seen[r.Alert], "duplicate alert %s", r.Alert)
			seen[r.Alert] = true
			require.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			require.NotEmpty(t, r.Annotations["description"], r.Alert)
			_, anchor, ok := strings.Cut(r.Annotations["runbook_url"], "#")
			require.True(t, ok, "%s: runbook_url without an anchor", r.Alert)
			require.Contains(t, guide, anchor, "%s: no runbook heading for #%s", r.Alert, anchor)
		}
	}
	// The list: latency near the budget, drops, projector lag, revision
	// skew, ingress not ready, dead letters.
	for _, a := range []string{"InvitegateCallbackLatencyHigh", "InvitegateEventsDropped", "InvitegateProjectorLagHigh",
		"InvitegatePolicyRevisionSkew", "InvitegateIngressNotReady", "InvitegateDeadLettersGrowing"} {
		require.True(t, seen[a], "missing alert %s", a)
	}
}

// runbookText returns the anchors (GitHub style) of the operator's guide's
// headings in README.md, where the operator's guide lives.
func runbookText(t *testing.T) []string {
	t.Helper()
	var anchors []string
	for _, p := range []string{"README.md"} {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(data), -1) {
			anchors = append(anchors, githubAnchor(m[1]))
		}
	}
	return anchors
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('-')
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(DashboardFile)
	require.NoError(t, err)
	var dash struct {
		UID    string
		Panels []struct {
			ID         int
			Type       string
			Title      string
			Datasource struct{ UID string }
			GridPos    struct{ X, Y, W, H int }
			Targets    []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	require.Equal(t, "invitegate", dash.UID)
	ids := map[int]bool{}
	var titles []string
	for _, p := range dash.Panels {
		require.False(t, ids[p.ID], "duplicate panel id %d", p.ID)
		ids[p.ID] = true
		titles = append(titles, p.Title)
		require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		if p.Type != "row" {
			require.Equal(t, "${datasource}", p.Datasource.UID, "%s: use the datasource variable", p.Title)
			require.NotEmpty(t, p.Targets, p.Title)
		}
	}
	for _, want := range []string{"Callbacks per second by outcome", "Latency p50 / p99", "Refusals by rule",
		"Outbox depth", "Projector lag", "Projector throughput", "Policy revision per replica", "Dead letters"} {
		require.Contains(t, titles, want)
	}
}

func TestMetricNamesFailures(t *testing.T) {
	t.Parallel()
	_, err := dashboardQueries("d.json", []byte(`{"panels": [`))
	require.ErrorContains(t, err, "d.json: unexpected end of JSON input")

	_, err = dashboardQueries("d.json", []byte(`{"panels": [{"title": "empty", "targets": [{"expr": " "}]}]}`))
	require.ErrorIs(t, err, ErrNoQueries)

	qs, err := dashboardQueries("d.json", []byte(`{"panels": [{"type": "row", "panels": [
		{"title": "nested", "targets": [{"expr": "rate(invitegate_x_total[$__rate_interval]) + up + {__name__=\"invitegate_y\"}"}]},
		{"title": "broken", "targets": [{"expr": "sum(rate(invitegate_z_total[5m])"}]}]}]}`))
	require.NoError(t, err)
	require.Len(t, qs, 2)
	names, err := metricNames(qs[:1])
	require.NoError(t, err)
	require.Equal(t, []string{"invitegate_x_total", "invitegate_y"}, names, "up is not invitegate's")
	_, err = metricNames(qs)
	require.ErrorContains(t, err, "d.json: panel broken: ")

	_, err = alertQueries("a.yaml", []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n"))
	require.ErrorContains(t, err, "a.yaml: ")
	require.ErrorContains(t, err, `rule 1, "A": could not parse expression`)

	_, err = alertQueries("a.yaml", []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        severity: page\n"))
	require.ErrorContains(t, err, "field severity not found")

	_, err = alertQueries("a.yaml", []byte("groups: []\n"))
	require.ErrorIs(t, err, ErrNoQueries)
}

// knownEnv is the environment variable of every flag the manifests may set.
var knownEnv = []string{"SDKAPPID", "HTTP_ADDR", "ADMIN_ADDR", "CALLBACK_PATH", "CALLBACK_TOKEN", "POLICY",
	"FAIL_MODE", "LOG_FORMAT", "NATS_URL", "NATS_CREDS", "NATS_NKEY", "NATS_TLS_CA", "NATS_TLS_CERT",
	"NATS_TLS_KEY", "JS_REPLICAS", "EVENTS_MAX_AGE", "DATA_DIR", "SPOOL_MAX_BYTES", "DATABASE_URL",
	"BATCH_SIZE", "BATCH_WAIT", "NO_MIGRATE", "POLICY_TRUST", "POLICY_SNAPSHOT_KEY"}

func TestEnvNames(t *testing.T) {
	t.Parallel()
	names, err := EnvNames()
	require.NoError(t, err)
	for _, n := range names {
		require.Contains(t, knownEnv, strings.TrimPrefix(n, "INVITEGATE_"), "%s is no flag's variable", n)
	}
	for _, want := range []string{"INVITEGATE_NATS_URL", "INVITEGATE_NATS_NKEY", "INVITEGATE_DATABASE_URL",
		"INVITEGATE_CALLBACK_TOKEN", "INVITEGATE_JS_REPLICAS", "INVITEGATE_POLICY", "INVITEGATE_SDKAPPID"} {
		require.Contains(t, names, want)
	}

	_, err = yamlEnvNames("x.yaml", []byte("a: 1\n---\nb: [\n"))
	require.ErrorContains(t, err, "x.yaml: document 1: ")
	got, err := yamlEnvNames("x.yaml", []byte("env:\n  - name: INVITEGATE_A\n  - {name: OTHER}\nlit: [INVITEGATE_B=1, invitegate_c=2]\nINVITEGATE_D: x\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"INVITEGATE_A", "INVITEGATE_B", "INVITEGATE_D"}, got)
}
