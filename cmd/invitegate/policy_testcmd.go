package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/invitegate/invitegate/decider"
)

func cmdPolicyTest(_ context.Context, e env, args []string) error {
	f := newFlags("policy test", "invitegate policy test POLICY TESTFILE... [flags]",
		"Runs table-driven tests of a policy, offline: each case of each YAML test file is a request\n"+
			"(operator, members, group, platform, client_ip, app, event_time, stats.*) and the answer\n"+
			"expected (outcome, error_code, error_info, rule, refused, shadow, rule_errors; only those\n"+
			"given are checked). Exits 0 when every case passes, 1 when one fails (each failure names\n"+
			"the case, the expected and the actual answer and the rule responsible), 2 on a bad command\n"+
			"line or test file. See decider/README.md, \"Policy workbench\".", e.getenv)
	var verbose, coverage bool
	f.Bool(&verbose, "v", false, "print every case, passing or not")
	f.Bool(&coverage, "coverage", false, "list the rules no case exercised (none rejected, refused or, in shadow, matched)")
	rest, err := parseFlags(f, args, e)
	if err != nil {
		return err
	}
	if len(rest) < 2 {
		return usagef("policy test: want POLICY and at least one TESTFILE, got %d arguments", len(rest))
	}
	files := make([]*testFile, len(rest)-1)
	for i, path := range rest[1:] {
		if files[i], err = readTestFile(path); err != nil {
			return err
		}
	}
	snap, err := loadPolicyFile(rest[0], 0)
	if err != nil {
		return err
	}
	run := testRun{snap: snap, out: e.stdout, verbose: verbose, exercised: map[string]bool{}}
	for i, tf := range files {
		run.file(rest[1+i], tf)
	}
	if coverage {
		run.coverage()
	}
	if run.failed > 0 {
		return fmt.Errorf("policy test: %d of %d cases failed", run.failed, run.cases)
	}
	fmt.Fprintf(e.stdout, "PASS: %d cases in %d file(s)\n", run.cases, len(files))
	return nil
}

type testRun struct {
	snap          *decider.Snapshot
	out           io.Writer
	verbose       bool
	cases, failed int
	exercised     map[string]bool
}

func (r *testRun) file(path string, tf *testFile) {
	for i := range tf.Cases {
		c := &tf.Cases[i]
		src, _ := c.Request.stats() // checked by readTestFile
		d := r.snap.DecideWith(c.Request.request(), src)
		r.cases++
		r.exercise(&d)
		problems := c.Expect.check(&d)
		if len(problems) == 0 {
			if r.verbose {
				fmt.Fprintf(r.out, "ok   %s: %s\n", path, c.Name)
			}
			continue
		}
		r.failed++
		fmt.Fprintf(r.out, "FAIL %s: %s\n", path, c.Name)
		for _, p := range problems {
			fmt.Fprintf(r.out, "     %s\n", p)
		}
		fmt.Fprintf(r.out, "     answer: %s; responsible rule: %s\n", answerText(&d), responsible(&d))
	}
}

func (r *testRun) exercise(d *decider.Decision) {
	r.exercised[d.RejectRule] = true
	for _, rf := range d.Refused {
		r.exercised[rf.Rule] = true
	}
	for _, s := range d.Shadow {
		r.exercised[s.Rule] = true
	}
}

func (r *testRun) coverage() {
	var missed []string
	rules := r.snap.Rules()
	for _, ri := range rules {
		if !r.exercised[ri.Name] {
			missed = append(missed, ri.Name)
		}
	}
	if len(missed) == 0 {
		fmt.Fprintf(r.out, "coverage: every rule (%d) was exercised\n", len(rules))
		return
	}
	fmt.Fprintf(r.out, "coverage: %d of %d rules no case exercised:\n", len(missed), len(rules))
	for _, name := range missed {
		fmt.Fprintf(r.out, "  %s\n", name)
	}
}

// check compares d with what the case expects and describes each mismatch.
func (x *testExpect) check(d *decider.Decision) []string {
	var out []string
	mismatch := func(field string, want, got any) {
		out = append(out, fmt.Sprintf("%s: expected %v, got %v", field, want, got))
	}
	if x.Outcome != nil && *x.Outcome != string(d.Outcome) {
		mismatch("outcome", *x.Outcome, d.Outcome)
	}
	if x.ErrorCode != nil && *x.ErrorCode != d.ErrorCode {
		mismatch("error_code", *x.ErrorCode, d.ErrorCode)
	}
	if x.ErrorInfo != nil && *x.ErrorInfo != d.ErrorInfo {
		mismatch("error_info", fmt.Sprintf("%q", *x.ErrorInfo), fmt.Sprintf("%q", d.ErrorInfo))
	}
	if x.Rule != nil && !ruleMatches(*x.Rule, d) {
		mismatch("rule", *x.Rule, responsible(d))
	}
	if x.Refused != nil && !sameSet(*x.Refused, d.RefusedMembers()) {
		mismatch("refused", listText(*x.Refused), listText(d.RefusedMembers()))
	}
	if x.Shadow != nil {
		var got []string
		for _, s := range d.Shadow {
			got = append(got, s.Rule)
		}
		if !sameSet(*x.Shadow, got) {
			mismatch("shadow", listText(*x.Shadow), listText(got))
		}
	}
	if x.RuleErrors != nil && !sameSet(*x.RuleErrors, d.RuleErrors) {
		mismatch("rule_errors", listText(*x.RuleErrors), listText(d.RuleErrors))
	}
	return out
}

// ruleMatches reports whether want is the rule responsible for d: the
// rejecting rule, or the rule that refused every refused member ("" or
// "none" for an answer no rule made).
func ruleMatches(want string, d *decider.Decision) bool {
	got := responsible(d)
	if want == "" {
		want = "none"
	}
	return want == got
}

// responsible names the rules that made the answer d.
func responsible(d *decider.Decision) string {
	if d.RejectRule != "" {
		return d.RejectRule
	}
	var rules []string
	for _, rf := range d.Refused {
		if !slices.Contains(rules, rf.Rule) {
			rules = append(rules, rf.Rule)
		}
	}
	if len(rules) == 0 {
		return "none"
	}
	return strings.Join(rules, ",")
}

func answerText(d *decider.Decision) string {
	switch d.Outcome {
	case decider.OutcomeReject:
		return fmt.Sprintf("reject (error_code %d)", d.ErrorCode)
	case decider.OutcomePartial:
		return fmt.Sprintf("partial (refused %s)", listText(d.RefusedMembers()))
	}
	return "allow"
}

func listText(xs []string) string { return "[" + strings.Join(xs, ", ") + "]" }

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
