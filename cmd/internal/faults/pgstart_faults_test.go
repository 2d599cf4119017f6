//go:build faults

package faults_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// Scenario: PostgreSQL unreachable (connections refused) when the projector
// and an `invitegate run` start. Both start anyway: the projector reports
// not ready, run reports ready with "analytics":"paused"; callbacks are
// answered meanwhile; once PostgreSQL appears both create and migrate their
// database and project every event.
func TestFaultPostgresDownAtStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{pgProxy: true, pgDownAtStart: true})
	code, body := getReadyz(t, c.projector.Admin)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, `"analytics":"paused"`)

	runDSN := pgtest.NewDatabase(t)
	proxied, err := c.proxy.URL(runDSN)
	require.NoError(t, err)
	run, err := faults.StartInvitegate(c.ctx, c.bins.Invitegate, "run", c.panics.watch("run"),
		"--sdkappid", app, "--policy", policyFile(t), "--data-dir", filepath.Join(c.dir, "run"),
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--database-url", proxied)
	require.NoError(t, err)
	t.Cleanup(func() { _ = run.Kill() })
	code, body = getReadyz(t, run.Admin)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"analytics":"paused"`)
	m, err := faults.Scrape(c.ctx, run.MetricsURL())
	require.NoError(t, err)
	require.Zero(t, m.Sum("invitegate_projector_database_ready"))

	load := c.startLoad(loadRate, outage)
	runLoad := startLoadTo(t, c.ctx, loadgen.Config{URL: run.Callback, Rate: float64(loadRate), Duration: outage})
	hold(c.ctx, outage/2)
	require.NoError(t, c.proxy.Restore())
	logf("faults: postgres-down-at-start: PostgreSQL refused at start and for %s of load, then reachable", outage/2)
	for _, admin := range []string{c.projector.Admin, run.Admin} {
		require.Eventually(t, func() bool {
			code, body := getReadyz(t, admin)
			return code == http.StatusOK && !strings.Contains(body, "paused")
		}, 2*time.Minute, 100*time.Millisecond, "%s never ready with analytics running", admin)
	}

	verdict(t, "postgres-down-at-start", c.settle(load.wait(t), 0), expectation{})
	runCluster := &cluster{t: t, ctx: c.ctx, dsn: runDSN}
	verdict(t, "postgres-down-at-start-run", runCluster.settle(runLoad.wait(t), 0), expectation{})
}

func getReadyz(t *testing.T, admin string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/readyz") //nolint:noctx // test poll
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
