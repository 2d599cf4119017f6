package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/invitegate/invitegate/cmd/internal/replay"
	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/projector"
)

// replayOptions are the flags of a replay (policy replay, policy apply --replay).
type replayOptions struct {
	databaseURL string
	app         string
	workers     int
	samples     int
}

func (o *replayOptions) register(f *flags) {
	f.String(&o.databaseURL, "database-url", projector.DefaultDatabaseURL,
		"PostgreSQL URL of the recorded invites (a role with SELECT on the invitegate schema is enough)")
	f.Int(&o.workers, "replay-workers", 0, "goroutines deciding in parallel (default: one per CPU)")
	f.Int(&o.samples, "samples", 5, "changed invites shown with their recorded and replayed answers")
}

func cmdPolicyReplay(ctx context.Context, e env, args []string) error {
	var (
		o            replayOptions
		since, until string
		asJSON       bool
	)
	f := newFlags("policy replay", "invitegate policy replay CANDIDATE --since DURATION [flags]",
		"Decides every invite recorded in PostgreSQL in a window again, with the candidate policy file\n"+
			"and the inputs recorded with each (members in request order, group, platform, client IP,\n"+
			"event time, the statistics the ingress held), and reports what would have changed: requests\n"+
			"changed, newly rejected and allowed, members newly refused and allowed, what each rule of\n"+
			"the candidate did, the operators and groups most affected and a few changed invites.\n"+
			"Reads with one streamed COPY in a read-only transaction; shows progress on a terminal.", e.getenv)
	o.register(f)
	f.String(&o.app, "app", "", "replay only this app's invites (SDKAppID)")
	f.String(&since, "since", "", "the window starts this long before --until: a Go duration or Nd days, e.g. 168h or 7d (required)")
	f.String(&until, "until", "", "end of the window, RFC 3339 (default now)")
	f.Bool(&asJSON, "json", false, "print the summary as JSON")
	rest, err := parseFlags(f, args, e)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("policy replay: want exactly one CANDIDATE policy file, got %d arguments", len(rest))
	}
	cfg, err := o.config(since, until)
	if err != nil {
		return err
	}
	if cfg.Candidate, err = loadPolicyFile(rest[0], 0); err != nil {
		return err
	}
	s, err := runReplay(ctx, e, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return replay.WriteText(e.stdout, &s)
}

// config checks the window and filters and returns the replay's config
// (without its candidate).
func (o *replayOptions) config(since, until string) (replay.Config, error) {
	cfg := replay.Config{DatabaseURL: o.databaseURL, App: o.app, Workers: o.workers, Samples: o.samples, Until: time.Now()}
	if since == "" {
		return cfg, usagef("--since is required (e.g. --since 24h or --since 7d)")
	}
	window, err := parseWindow(since)
	if err != nil {
		return cfg, usagef("--since %q: %v", since, err)
	}
	if until != "" {
		if cfg.Until, err = time.Parse(time.RFC3339Nano, until); err != nil {
			return cfg, usagef("--until %q: want an RFC 3339 time such as 2026-11-28T10:00:00Z", until)
		}
	}
	cfg.Since = cfg.Until.Add(-window)
	if o.app != "" && !replay.ValidApp(o.app) {
		return cfg, usagef("--app %q: want an SDKAppID (letters, digits, '_', '-', '.'; at most 64)", o.app)
	}
	if o.workers < 0 || o.samples < 0 {
		return cfg, usagef("--replay-workers and --samples: want 0 or more")
	}
	return cfg, nil
}

// parseWindow reads a positive Go duration or a number of days ("7d").
func parseWindow(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100*365 {
			return 0, fmt.Errorf("want a Go duration (72h) or a whole number of days (3d)")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("want a Go duration (72h) or a whole number of days (3d)")
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("want a positive duration")
	}
	return d, nil
}

// runReplay runs the replay with a progress bar on stderr when it is a
// terminal.
func runReplay(ctx context.Context, e env, cfg replay.Config) (replay.Summary, error) {
	if !isTerminal(e.stderr) {
		return replay.Run(ctx, cfg)
	}
	total, err := replay.Estimate(ctx, cfg)
	if err != nil {
		return replay.Summary{}, err
	}
	var read atomic.Int64
	cfg.Progress = read.Store
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		progressBar(e.stderr, &read, total, done)
	}()
	s, err := replay.Run(ctx, cfg)
	close(done)
	<-finished
	return s, err
}

// progressBar redraws one line on w every 200 ms until done.
func progressBar(w io.Writer, read *atomic.Int64, total int64, done <-chan struct{}) {
	start := time.Now()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	draw := func() {
		n := read.Load()
		frac := 0.0
		if total > 0 {
			frac = min(1, float64(n)/float64(total))
		}
		const width = 30
		filled := int(frac * width)
		rate := float64(n) / max(time.Since(start).Seconds(), 0.001)
		fmt.Fprintf(w, "\r[%s%s] %3.0f%%  %d / ~%d invites  %.0f/s ", strings.Repeat("#", filled),
			strings.Repeat(".", width-filled), 100*frac, n, total, rate)
	}
	for {
		select {
		case <-done:
			draw()
			fmt.Fprintln(w)
			return
		case <-tick.C:
			draw()
		}
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// confirmPublish prints the replay summary of the candidate and asks on the
// terminal whether to publish it. yes skips the question.
func confirmPublish(ctx context.Context, e env, o *replayOptions, window, app string, cand *decider.Snapshot, yes bool) error {
	o.app = app
	cfg, err := o.config(window, "")
	if err != nil {
		return err
	}
	cfg.Candidate = cand
	s, err := runReplay(ctx, e, cfg)
	if err != nil {
		return err
	}
	if err := replay.WriteText(e.stdout, &s); err != nil {
		return err
	}
	if yes {
		return nil
	}
	if !isTerminal(e.stdin) {
		return usagef("policy apply --replay: stdin is not a terminal to confirm on: pass --yes to publish")
	}
	fmt.Fprint(e.stdout, "\npublish this policy? [y/N] ")
	var answer string
	fmt.Fscanln(e.stdin, &answer)
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return fmt.Errorf("not published")
	}
	return nil
}
