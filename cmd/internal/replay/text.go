package replay

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// WriteText writes s as readable tables: the totals, the candidate's rules,
// the operators and groups most affected, and the samples.
func WriteText(w io.Writer, s *Summary) error {
	app := s.App
	if app == "" {
		app = "every app"
	}
	rate := 0.0
	if s.ElapsedSeconds > 0 {
		rate = float64(s.Requests) / s.ElapsedSeconds
	}
	fmt.Fprintf(w, "replayed %s invites of %s received %s .. %s in %.1f s (%s/s)\n\n", num(s.Requests), app,
		s.Since.Format(time.RFC3339), s.Until.Format(time.RFC3339), s.ElapsedSeconds, num(int64(rate)))
	if s.Limited > 0 {
		fmt.Fprintf(w, "skipped %s invites not decided by the policy: a bound (--max-members, --decision-timeout)\n"+
			"made the fail mode answer them, so their recorded answer says nothing of the policy\n\n", num(s.Limited))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tallow\tpartial\treject\t\n")
	fmt.Fprintf(tw, "recorded\t%s\t%s\t%s\t\n", num(s.Before.Allow), num(s.Before.Partial), num(s.Before.Reject))
	fmt.Fprintf(tw, "candidate\t%s\t%s\t%s\t\n", num(s.After.Allow), num(s.After.Partial), num(s.After.Reject))
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "requests changed\t%s\t(%s)\n", num(s.Changed), pct(s.Changed, s.Requests))
	fmt.Fprintf(tw, "newly rejected\t%s\t\n", num(s.NewlyRejected))
	fmt.Fprintf(tw, "newly allowed (no longer rejected)\t%s\t\n", num(s.NewlyAllowed))
	fmt.Fprintf(tw, "members newly refused\t%s\t\n", num(s.MembersNewlyRefused))
	fmt.Fprintf(tw, "members newly allowed\t%s\t\n", num(s.MembersNewlyAllowed))
	if s.StatsUnrecorded > 0 {
		fmt.Fprintf(tw, "requests reading a statistic not recorded (read as 0)\t%s\t\n", num(s.StatsUnrecorded))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nrules of the candidate (shadow rules: what they would have done):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "rule\tkind\tmode\trequests rejected\tmembers refused\terrors")
	for _, r := range s.ByRule {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Rule, r.Kind, r.Mode, num(r.RequestsRejected), num(r.MembersRefused), num(r.Errors))
	}
	tw.Flush()
	note := ""
	if !s.TopExact {
		note = " (lower bounds: too many distinct keys to count all)"
	}
	writeTop(w, "operators", s.TopOperators, note)
	writeTop(w, "groups", s.TopGroups, note)
	if len(s.Samples) > 0 {
		fmt.Fprintln(w, "\nsamples of changed invites:")
		for _, x := range s.Samples {
			fmt.Fprintf(w, "  %s  %s  app %s  operator %s  group %s (%s)  members %s\n", x.EventID,
				x.ReceivedAt.Format(time.RFC3339), x.App, x.Operator, x.GroupID, x.GroupType, strings.Join(x.Members, ","))
			fmt.Fprintf(w, "    recorded:  %s\n    candidate: %s\n", answerText(x.Before), answerText(x.After))
		}
	}
	return nil
}

func writeTop(w io.Writer, what string, top []KeyCount, note string) {
	if len(top) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntop %s affected (changed requests)%s:\n", what, note)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "app\t"+strings.TrimSuffix(what, "s")+"\tchanged")
	for _, k := range top {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.App, k.Key, num(k.Changed))
	}
	tw.Flush()
}

func answerText(a Answer) string {
	switch a.Outcome {
	case decider.OutcomeReject:
		return fmt.Sprintf("reject by %s (error_code %d)", a.RejectRule, a.ErrorCode)
	case decider.OutcomePartial:
		parts := make([]string, len(a.Refused))
		for i, r := range a.Refused {
			parts[i] = r.Member + " by " + r.Rule
		}
		return "partial: refused " + strings.Join(parts, ", ")
	}
	return string(a.Outcome)
}

// num formats n with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func pct(a, b int64) string {
	if b == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 2, 64) + "%"
}
