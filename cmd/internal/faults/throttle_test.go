//go:build soak

package faults_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

// Knobs of the throttle measurement (make bench-throttle).
var (
	throttleRate   = envInt("THROTTLE_RATE", 2000)                      // background callbacks/s
	throttleRounds = envInt("THROTTLE_ROUNDS", 20)                      // flooders, one after the other
	throttleLimit  = envInt("THROTTLE_LIMIT", 100)                      // members invited in an hour
	throttleBatch  = envInt("THROTTLE_MEMBERS", 10)                     // members per flooder invite
	throttleEvery  = envDuration("THROTTLE_EVERY", 10*time.Millisecond) // a flooder's pace: one invite each
)

// TestThrottle measures the time to throttle a flooder against separate processes
// (nats-server with sync always, ingress, projector with its stats
// aggregator, PostgreSQL): while loadgen sends THROTTLE_RATE callbacks/s
// from its Zipf-drawn operators, flooders invite THROTTLE_MEMBERS members
// at a time every THROTTLE_EVERY (so the figure's resolution), one after
// the other, under the policy
// `reject: stats.operator_invites_1h >= THROTTLE_LIMIT`. For each flooder
// it reports the time from the answer whose event makes its count reach
// the limit to its first rejected invite. It fails only when a flooder is
// not throttled within 10 s: the figure is a measurement, not a timed
// assertion.
func TestThrottle(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "throttle.yaml")
	require.NoError(t, os.WriteFile(policy, fmt.Appendf(nil, `apiVersion: invitegate/v1
rules:
  - name: flood
    reject: stats.operator_invites_1h >= %d
    error_code: 10110
    error_info: "Too many invitations, try again later."
`, throttleLimit), 0o600))
	c := newCluster(t, clusterOptions{policy: policy})
	in, err := loadgen.NewInviter(loadgen.Config{URL: c.ingress.Callback, SdkAppID: app})
	require.NoError(t, err)
	defer in.Close()

	bgLength := time.Duration(throttleRounds)*3*time.Second + 20*time.Second
	bg := c.startLoad(throttleRate, bgLength)
	c.waitStored(throttleRate) // the pipeline flows under the background
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var took []time.Duration
	pace := time.NewTicker(throttleEvery)
	defer pace.Stop()
	for round := range throttleRounds {
		op := fmt.Sprintf("flooder-%s-%d", run, round)
		var crossed time.Time
		for invited := 0; ; invited += throttleBatch {
			<-pace.C
			members := make([]string, throttleBatch)
			for i := range members {
				members[i] = op + "-m" + strconv.Itoa(invited+i)
			}
			out, err := in.Send(c.ctx, loadgen.Invite{Operator: op, GroupID: "@TGS#" + op, Members: members})
			require.NoError(t, err)
			if out == loadgen.OutcomeReject {
				require.False(t, crossed.IsZero(), "%s rejected at %d invited, before the limit", op, invited)
				took = append(took, time.Since(crossed))
				break
			}
			if invited+throttleBatch >= throttleLimit && crossed.IsZero() {
				crossed = time.Now() // this answer's event brings the count to the limit
			}
			if !crossed.IsZero() && time.Since(crossed) > 10*time.Second {
				im, _ := faults.Scrape(c.ctx, c.ingress.MetricsURL())
				pm, _ := faults.Scrape(c.ctx, c.projector.MetricsURL())
				t.Fatalf("%s not throttled within 10 s of crossing the limit\ningress: %v\nprojector: %v\nprojector log:\n%s",
					op, statsMetrics(im), statsMetrics(pm), c.projector.Tail(2048))
			}
		}
	}
	bg.wait(t)
	rep := bg.rep
	pm, err := faults.Scrape(c.ctx, c.projector.MetricsURL())
	require.NoError(t, err)
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	logf("throttle: background %.0f callbacks/s (%d of %d answered, p99 %.1f ms); %d flooders: time to throttle p50 %.0f ms, p90 %.0f ms, worst %.0f ms",
		float64(rep.Attempted)/rep.ElapsedSeconds, rep.Answered, rep.Attempted, rep.Latency.P99Ms,
		len(took), ms(took[len(took)/2]), ms(took[len(took)*9/10]), ms(took[len(took)-1]))
	logf("throttle: aggregator: %.0f events, keys: %.0f operators, %.0f members, %.0f groups; heap %.0f MB",
		pm["invitegate_stats_aggregated_events_total"], pm[`invitegate_stats_aggregator_keys{subject="operator"}`],
		pm[`invitegate_stats_aggregator_keys{subject="member"}`], pm[`invitegate_stats_aggregator_keys{subject="group"}`],
		pm["go_memstats_heap_inuse_bytes"]/1e6)
}

// statsMetrics picks the statistics' metrics out of a scrape.
func statsMetrics(m faults.Metrics) map[string]float64 {
	out := map[string]float64{}
	for name, v := range m {
		if strings.Contains(name, "stats") {
			out[name] = v
		}
	}
	return out
}
