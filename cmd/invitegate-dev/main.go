package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/decider/cputime"
)

// config is the command line.
type config struct {
	out         string
	duration    time.Duration
	rounds      int
	concurrency int
	saturation  int
	rate        float64
	e2eRate     float64
	e2eDuration time.Duration
	opaVersion  string
	skipOPA     bool
	skipE2E     bool
}

// cmdCompare runs the side-by-side comparison (make bench-compare).
func cmdCompare(ctx context.Context, args []string, stdout, _ io.Writer) error {
	var c config
	f := newFlagSet("compare", stdout,
		"Runs the side-by-side comparison (bare net/http, ingress with events off and on, OPA; end to end)\n"+
			"and writes it as Markdown.")
	f.StringVar(&c.out, "out", "", "Markdown result file (default deploy/bench/<date>-compare.md)")
	f.DurationVar(&c.duration, "duration", 8*time.Second, "length of each throughput and latency run")
	f.IntVar(&c.rounds, "rounds", 5, "rounds of throughput and latency runs (targets in rotating order; medians reported)")
	f.IntVar(&c.concurrency, "concurrency", 64, "closed-loop workers of the throughput runs")
	f.IntVar(&c.saturation, "saturation-concurrency", 256,
		"closed-loop workers of the extra rounds of the durability pair (events-nats-always and -sync) run to CPU saturation; 0 leaves them out")
	f.Float64Var(&c.rate, "rate", 2000, "open-loop rate of the latency runs (callbacks/s)")
	f.Float64Var(&c.e2eRate, "e2e-rate", 2000, "open-loop rate of the end-to-end run")
	f.DurationVar(&c.e2eDuration, "e2e-duration", 30*time.Second, "length of the end-to-end run")
	f.StringVar(&c.opaVersion, "opa-version", "v1.22.3", "github.com/open-policy-agent/opa version built for the OPA target")
	f.BoolVar(&c.skipOPA, "skip-opa", false, "leave OPA out")
	f.BoolVar(&c.skipE2E, "skip-e2e", false, "leave the end-to-end run out")
	if err := parse(f, args); err != nil {
		return err
	}
	return run(ctx, c, stdout)
}

func run(ctx context.Context, c config, stdout io.Writer) error {
	root, err := faults.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	if c.out == "" {
		c.out = filepath.Join(root, "deploy", "bench", time.Now().Format("2006-01-02")+"-compare.md")
	}
	tmp, err := os.MkdirTemp("", "bench-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	e := &env{root: root, tmp: tmp, appID: loadgen.DefaultSdkAppID,
		policy: filepath.Join(root, "deploy", "bench", "policy.yaml"), rego: filepath.Join(root, "deploy", "bench", "policy.rego")}
	logf(stdout, "building invitegate and nats-server into %s", tmp)
	if e.bins, err = faults.Build(ctx, tmp); err != nil {
		return err
	}
	if e.self, err = os.Executable(); err != nil { // the bare handler is this binary's barehandler command
		return fmt.Errorf("find this binary: %w", err)
	}
	if !c.skipOPA {
		logf(stdout, "building opa %s (a few minutes the first time)", c.opaVersion)
		if e.opa, err = buildOPA(ctx, tmp, c.opaVersion); err != nil {
			return err
		}
	}
	rep := &report{cfg: c, started: time.Now(), machine: machine()}
	targets, err := startTargets(ctx, e, c)
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	if err != nil {
		return err
	}
	if err := measure(ctx, c, targets, rep, stdout); err != nil {
		return err
	}
	if !c.skipE2E {
		if rep.e2e, err = endToEnd(ctx, e, c, stdout); err != nil {
			return err
		}
	}
	if err := rep.write(c.out); err != nil {
		return err
	}
	logf(stdout, "results written to %s", c.out)
	return nil
}

func startTargets(ctx context.Context, e *env, c config) ([]*target, error) {
	starts := []func() (*target, error){
		func() (*target, error) { return e.bare(ctx) },
		func() (*target, error) {
			return e.ingress(ctx, "events-off", "invitegate ingress --events-off", "--events-off")
		},
		func() (*target, error) {
			return e.ingress(ctx, "events-embedded", "invitegate ingress, embedded JetStream (fsync every 2 min)")
		},
		func() (*target, error) {
			return e.ingress(ctx, "events-embedded-sync", "invitegate ingress, embedded JetStream, --embedded-nats-sync-always",
				"--embedded-nats-sync-always")
		},
		func() (*target, error) { return e.natsAlways(ctx, "events-nats-always", "async") },
		func() (*target, error) { return e.natsAlways(ctx, "events-nats-always-sync", "sync") },
	}
	if !c.skipOPA {
		starts = append(starts, func() (*target, error) { return e.opaTarget(ctx) })
	}
	var out []*target
	for _, start := range starts {
		t, err := start()
		if err != nil {
			return out, err
		}
		out = append(out, t)
	}
	return out, nil
}

// measure runs the equivalence check, the throughput rounds and the latency runs.
func measure(ctx context.Context, c config, targets []*target, rep *report, stdout io.Writer) error {
	if err := equivalence(ctx, targets, rep, stdout); err != nil {
		return err
	}
	for _, t := range targets { // warm-up: connections, JIT-free but caches and heaps
		if _, err := loadgen.Run(ctx, loadgen.Config{URL: t.url, Concurrency: c.concurrency, Duration: 2 * time.Second, BannedShare: 0.05}); err != nil {
			return fmt.Errorf("warm up %s: %w", t.name, err)
		}
	}
	rep.latency = map[string][]*loadgen.Report{}
	for r := range c.rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			if err := closedLoop(ctx, t, c.concurrency, c.duration, r, &rep.throughput, stdout); err != nil {
				return fmt.Errorf("throughput %s: %w", t.name, err)
			}
		}
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			lr, err := loadgen.Run(ctx, loadgen.Config{URL: t.url, Rate: c.rate, Concurrency: 256, Duration: c.duration, BannedShare: 0.05, Seed: uint64(r)})
			if err != nil {
				return fmt.Errorf("latency %s: %w", t.name, err)
			}
			rep.latency[t.name] = append(rep.latency[t.name], lr)
			logf(stdout, "round %d at %.0f/s %-22s p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms errors %v", r+1, c.rate, t.name,
				lr.Latency.P50Ms, lr.Latency.P99Ms, lr.Latency.P999Ms, lr.Latency.MaxMs, lr.Errors)
		}
	}
	if err := saturate(ctx, c, targets, rep, stdout); err != nil {
		return err
	}
	rep.targets = targets
	return nil
}

// closedLoop runs one closed-loop round against t and adds it to into,
// with the CPU time of t's processes per answered callback and the
// machine's idle share.
func closedLoop(ctx context.Context, t *target, workers int, d time.Duration, round int, into *closedRounds, stdout io.Writer) error {
	cpu0 := t.cpu()
	idle0, total0, _ := cputime.Host() // zeros when unreadable: the idle share reads 0
	lr, err := loadgen.Run(ctx, loadgen.Config{URL: t.url, Concurrency: workers, Duration: d, BannedShare: 0.05, Seed: uint64(round)})
	if err != nil {
		return err
	}
	idle1, total1, _ := cputime.Host()
	cpuUs := float64((t.cpu() - cpu0).Microseconds()) / float64(max(lr.Answered, 1))
	share := cputime.IdleShare(idle0, total0, idle1, total1)
	into.add(t.name, lr, cpuUs, share)
	logf(stdout, "round %d %-22s %d workers %9.0f answered/s  p99 %7.2fms  cpu %5.1fus/callback  machine idle %4.1f%%  errors %v",
		round+1, t.name, workers, lr.AnsweredRate, lr.Latency.P99Ms, cpuUs, 100*share, lr.Errors)
	return nil
}

// saturate runs the durability pair (async and sync against a sync-always
// nats-server) closed-loop with enough workers to keep the machine's CPU
// busy: with 64 workers sync durability leaves the CPU partly idle (each
// callback also waits for a PubAck), so its rate there measures latency
// as much as capacity.
func saturate(ctx context.Context, c config, targets []*target, rep *report, stdout io.Writer) error {
	if c.saturation <= 0 {
		return nil
	}
	var pair []*target
	for _, t := range targets {
		if t.name == "events-nats-always" || t.name == "events-nats-always-sync" {
			pair = append(pair, t)
		}
	}
	for r := range c.rounds {
		for i := range pair {
			t := pair[(i+r)%len(pair)]
			if err := closedLoop(ctx, t, c.saturation, c.duration, r, &rep.saturation, stdout); err != nil {
				return fmt.Errorf("saturation %s: %w", t.name, err)
			}
		}
	}
	return nil
}

// equivalence sends the same 3,000 requests to invitegate and to OPA and
// requires the same outcome counts: the two policies decide alike.
func equivalence(ctx context.Context, targets []*target, rep *report, stdout io.Writer) error {
	outcomes := map[string]map[string]int64{}
	for _, t := range targets {
		if t.name != "events-off" && t.name != "opa" {
			continue
		}
		lr, err := loadgen.Run(ctx, loadgen.Config{URL: t.url, Concurrency: 1, Requests: 3000, BannedShare: 0.05, Seed: 42, RunID: "equiv"})
		if err != nil {
			return fmt.Errorf("equivalence %s: %w", t.name, err)
		}
		outcomes[t.name] = lr.Outcomes
	}
	if len(outcomes) == 2 {
		a, b := outcomes["events-off"], outcomes["opa"]
		rep.equivalence = fmt.Sprintf("invitegate %v, OPA %v", a, b)
		logf(stdout, "same 3,000 requests: %s", rep.equivalence)
		for _, k := range []string{loadgen.OutcomeAllow, loadgen.OutcomePartial, loadgen.OutcomeReject, loadgen.OutcomeError} {
			if a[k] != b[k] {
				return fmt.Errorf("invitegate and OPA decide differently: %s", rep.equivalence)
			}
		}
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, time.Now().Format("15:04:05")+" "+format+"\n", args...)
}
