package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

// report gathers the figures and writes them as Markdown.
type report struct {
	cfg         config
	started     time.Time
	machine     string
	equivalence string
	targets     []*target
	latency     map[string][]*loadgen.Report
	throughput  closedRounds // with cfg.concurrency workers, every target
	saturation  closedRounds // with cfg.saturation workers, the durability pair
	e2e         *e2eResult
}

// closedRounds are closed-loop rounds by target: loadgen's report, the CPU
// time of the target's processes per answered callback (µs), and the
// machine's idle CPU share.
type closedRounds struct {
	reports   map[string][]*loadgen.Report
	cpu, idle map[string][]float64
}

func (c *closedRounds) add(name string, lr *loadgen.Report, cpuUs, idle float64) {
	if c.reports == nil {
		c.reports, c.cpu, c.idle = map[string][]*loadgen.Report{}, map[string][]float64{}, map[string][]float64{}
	}
	c.reports[name] = append(c.reports[name], lr)
	c.cpu[name] = append(c.cpu[name], cpuUs)
	c.idle[name] = append(c.idle[name], idle)
}

func (c *closedRounds) rate(name string) float64      { return med(c.reports[name], answeredRate) }
func (c *closedRounds) p99(name string) float64       { return med(c.reports[name], p99) }
func (c *closedRounds) cpuUs(name string) float64     { return median(c.cpu[name]) }
func (c *closedRounds) idleShare(name string) float64 { return median(c.idle[name]) }

// rounds lists name's rates, round by round.
func (c *closedRounds) rounds(name string) string {
	var out []string
	for _, lr := range c.reports[name] {
		out = append(out, fmt.Sprintf("%.0f", lr.AnsweredRate))
	}
	return strings.Join(out, ", ")
}

// machine describes the host: CPU model and count, load, Go version.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%s, %d cores, load average at start %s, %s", model, runtime.NumCPU(), load, runtime.Version())
}

// med is the median of f over reports.
func med(reports []*loadgen.Report, f func(*loadgen.Report) float64) float64 {
	var xs []float64
	for _, lr := range reports {
		xs = append(xs, f(lr))
	}
	return median(xs)
}

func answeredRate(lr *loadgen.Report) float64 { return lr.AnsweredRate }
func p50(lr *loadgen.Report) float64          { return lr.Latency.P50Ms }
func p99(lr *loadgen.Report) float64          { return lr.Latency.P99Ms }
func p999(lr *loadgen.Report) float64         { return lr.Latency.P999Ms }
func maxMs(lr *loadgen.Report) float64        { return lr.Latency.MaxMs }

func (r *report) medianRate(name string) float64 { return r.throughput.rate(name) }
func (r *report) latencyP99(name string) float64 { return med(r.latency[name], p99) }

func (r *report) write(path string) error {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	c := r.cfg
	w("# Side-by-side benchmarks, %s", r.started.Format("2006-01-02 15:04 MST"))
	w("")
	w("Machine: %s. Shared with other work: compare ratios within this run, not absolute figures.", r.machine)
	w("")
	skips := ""
	if c.skipOPA {
		skips += " -skip-opa"
	}
	if c.skipE2E {
		skips += " -skip-e2e"
	}
	w("Command: `go run ./cmd/invitegate-dev compare -duration %s -rounds %d -concurrency %d -saturation-concurrency %d -rate %.0f -e2e-rate %.0f -e2e-duration %s%s` (make bench-compare).",
		c.duration, c.rounds, c.concurrency, c.saturation, c.rate, c.e2eRate, c.e2eDuration, skips)
	w("Load: `loadgen`, invites only, 1..5 members, 5%% banned ids, keep-alive; loadgen runs on the same two cores.")
	if r.equivalence != "" {
		w("Same decisions: the same 3,000 requests (seed 42) gave %s.", r.equivalence)
	}
	w("")
	w("## Throughput (closed loop, %d workers, %s x %d rounds, median)", c.concurrency, c.duration, c.rounds)
	w("")
	w("CPU/callback: CPU time of the target's processes (the ingress and, for events-nats-always, the nats-server child)")
	w("per answered callback, from /proc: steadier than throughput on a shared machine.")
	w("")
	w("Idle: the machine's idle CPU share during the round (/proc/stat); a run well above 0 waits rather than computes.")
	w("")
	w("| target | what | answered/s | vs events-off | vs bare | vs opa | p99 ms | CPU us/callback | idle %% | rounds (answered/s) |")
	w("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, t := range r.targets {
		rate := r.medianRate(t.name)
		w("| %s | %s | %.0f | %s | %s | %s | %.2f | %.1f | %.0f | %s |", t.name, t.note, rate,
			ratio(rate, r.medianRate("events-off")), ratio(rate, r.medianRate("bare")), ratio(rate, r.medianRate("opa")),
			r.throughput.p99(t.name), r.throughput.cpuUs(t.name), 100*r.throughput.idleShare(t.name), r.throughput.rounds(t.name))
	}
	r.writeSaturation(w)
	w("")
	w("## Latency at %.0f callbacks/s (open loop, %s x %d rounds, from the scheduled send, median of rounds)", c.rate, c.duration, c.rounds)
	w("")
	w("| target | p50 ms | p99 ms | p99.9 ms | max ms | p99 of each round | errors | missed |")
	w("|---|---:|---:|---:|---:|---|---:|---:|")
	for _, t := range r.targets {
		lrs := r.latency[t.name]
		var rounds []string
		var errs, missed int64
		for _, lr := range lrs {
			rounds = append(rounds, fmt.Sprintf("%.2f", lr.Latency.P99Ms))
			errs += lr.Attempted - lr.Answered
			missed += lr.Missed
		}
		w("| %s | %.2f | %.2f | %.2f | %.2f | %s | %d | %d |", t.name, med(lrs, p50), med(lrs, p99), med(lrs, p999),
			med(lrs, maxMs), strings.Join(rounds, ", "), errs, missed)
	}
	r.writeBars(w)
	r.writeE2E(w)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeSaturation writes the durability pair's rounds at saturation.
func (r *report) writeSaturation(w func(string, ...any)) {
	sat := &r.saturation
	if len(sat.reports) == 0 {
		return
	}
	c := r.cfg
	w("")
	w("## Durability at saturation (closed loop, %d workers, %s x %d rounds, median)", c.saturation, c.duration, c.rounds)
	w("")
	w("The two targets of the durability comparison again, with enough workers to keep the CPU busy: with sync durability")
	w("every callback also waits for its batch's PubAck, so %d workers leave the CPU partly idle and measure latency as much as capacity.", c.concurrency)
	w("")
	w("| target | answered/s | vs events-nats-always | p99 ms | CPU us/callback | idle %% | rounds (answered/s) |")
	w("|---|---:|---:|---:|---:|---:|---|")
	for _, name := range []string{"events-nats-always", "events-nats-always-sync"} {
		rate := sat.rate(name)
		w("| %s | %.0f | %s | %.2f | %.1f | %.0f | %s |", name, rate, ratio(rate, sat.rate("events-nats-always")), sat.p99(name),
			sat.cpuUs(name), 100*sat.idleShare(name), sat.rounds(name))
	}
}

func (r *report) writeBars(w func(string, ...any)) {
	off := r.medianRate("events-off")
	w("")
	w("## Bars")
	w("")
	offCPU := r.throughput.cpuUs("events-off")
	for _, name := range []string{"events-embedded", "events-embedded-sync", "events-nats-always"} {
		rate := r.medianRate(name)
		w("- %s / events-off = %s throughput (bar: >= 0.85): %s; CPU per callback events-off / %s = %s",
			name, ratio(rate, off), verdict(off > 0 && rate/off >= 0.85), name, ratio(offCPU, r.throughput.cpuUs(name)))
	}
	for _, name := range []string{"events-off", "events-nats-always"} {
		rate := r.medianRate(name)
		w("- %s / bare = %s (floor 0.7, aim 1.0): %s", name, ratio(rate, r.medianRate("bare")), verdict(rate >= 0.7*r.medianRate("bare")))
	}
	r.writeDurabilityBars(w)
	if opa := r.medianRate("opa"); opa > 0 {
		rate := r.medianRate("events-nats-always")
		ours, theirs := r.latencyP99("events-nats-always"), r.latencyP99("opa")
		w("- events-nats-always / opa = %s (goal >= 2) at p99 %.2f ms vs %.2f ms at %.0f/s (goal: lower): %s",
			ratio(rate, opa), ours, theirs, r.cfg.rate, verdict(rate >= 2*opa && ours < theirs))
	}
}

// writeDurabilityBars compares --event-durability sync with async, both
// against a sync-always nats-server child: sync is worth making the
// default when it costs under 10% of throughput and keeps p99 under 5 ms
// at 2,000 callbacks/s.
func (r *report) writeDurabilityBars(w func(string, ...any)) {
	async, sync := r.medianRate("events-nats-always"), r.medianRate("events-nats-always-sync")
	if async == 0 || sync == 0 {
		return
	}
	p99 := r.latencyP99("events-nats-always-sync")
	w("- events-nats-always-sync / events-nats-always (sync / async durability) = %s throughput at %d workers (goal >= 0.8): %s; machine idle %.0f%% (sync) and %.0f%% (async)",
		ratio(sync, async), r.cfg.concurrency, verdict(sync >= 0.8*async),
		100*r.throughput.idleShare("events-nats-always-sync"), 100*r.throughput.idleShare("events-nats-always"))
	satAsync, satSync := r.saturation.rate("events-nats-always"), r.saturation.rate("events-nats-always-sync")
	if satAsync > 0 && satSync > 0 {
		w("- the same at saturation, %d workers = %s throughput (goal >= 0.8): %s; machine idle %.0f%% (sync) and %.0f%% (async)",
			r.cfg.saturation, ratio(satSync, satAsync), verdict(satSync >= 0.8*satAsync),
			100*r.saturation.idleShare("events-nats-always-sync"), 100*r.saturation.idleShare("events-nats-always"))
	}
	w("- events-nats-always-sync p99 at %.0f/s = %.2f ms (goal <= 5 ms): %s; async %.2f ms",
		r.cfg.rate, p99, verdict(p99 <= 5), r.latencyP99("events-nats-always"))
	w("- sync as the default (cost < 10%% of throughput and p99 < 5 ms at 2,000/s): %s",
		verdict(sync >= 0.9*async && (satAsync == 0 || satSync >= 0.9*satAsync) && p99 < 5 && r.cfg.rate >= 2000))
}

func (r *report) writeE2E(w func(string, ...any)) {
	e := r.e2e
	if e == nil {
		return
	}
	w("")
	w("## End to end at %.0f callbacks/s: answer to row visible", e.rate)
	w("")
	w("`invitegate run` (ingress, outbox, embedded JetStream with sync always, projector) against the machine's PostgreSQL.")
	w("Visible: a row trigger added to the benchmark's database sends NOTIFY, delivered when the projector's transaction commits;")
	w("the answer time is loadgen's send time plus its service time. projected_at (transaction start) gives a lower bound.")
	w("")
	w("| measure | p50 ms | p99 ms | max ms |")
	w("|---|---:|---:|---:|")
	w("| answer -> visible (commit) | %.1f | %.1f | %.1f |", pct(e.visibleMs, .5), pct(e.visibleMs, .99), pct(e.visibleMs, 1))
	w("| answer -> projected_at (lower bound) | %.1f | %.1f | %.1f |", pct(e.projectedMs, .5), pct(e.projectedMs, .99), pct(e.projectedMs, 1))
	w("")
	w("Answered %d of %d (never sent: %d, errors: %v; achieved %.0f/s, answer p99 %.2f ms); visible %d. Bar: p99 < 1 s: %s.",
		e.answered, e.report.Attempted+e.report.Missed, e.report.Missed, e.report.Errors,
		e.report.AchievedRate, e.report.Latency.P99Ms, e.visible,
		verdict(e.visible == e.answered && pct(e.visibleMs, .99) < 1000))
	if len(e.notVisibleExamples) > 0 {
		w("Not visible within 30 s of the end: %v", e.notVisibleExamples)
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		w("")
		w("Commit: %s", strings.TrimSpace(string(out)))
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
