package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

func cmdPolicyShow(ctx context.Context, e env, args []string) error {
	var rev uint64
	return logCommand(ctx, e, args, "policy show", "invitegate policy show [flags]",
		"Prints the policy document in force (as authored, YAML) and the size of each list, now or\n"+
			"as of --revision N. `invitegate list show NAME` prints a list's entries.",
		false, func(f *flags) { f.Uint64(&rev, "revision", 0, "show the policy as of this revision (0: the newest)") },
		func(ctx context.Context, _ *logCLIOptions, log *policystore.Log, rest []string) error {
			if len(rest) != 0 {
				return usagef("policy show: unexpected arguments %s", joinQuoted(rest))
			}
			fold, err := stateAt(ctx, log, rev)
			if err != nil {
				return err
			}
			s := fold.Snapshot()
			fmt.Fprintf(e.stdout, "# app %s, revision %d\n", log.App(), s.Revision())
			for _, name := range s.ListNames() {
				fmt.Fprintf(e.stdout, "# list %s: %d entries\n", name, s.ListSize(name))
			}
			out, err := yaml.Marshal(s.Document())
			if err != nil {
				return fmt.Errorf("encode policy: %w", err)
			}
			_, err = e.stdout.Write(out)
			return err
		})
}

func cmdPolicyHistory(ctx context.Context, e env, args []string) error {
	var limit int
	return logCommand(ctx, e, args, "policy history", "invitegate policy history [flags]",
		"Lists the events of the policy log, oldest first: revision, time, kind, author, the change,\n"+
			"and whether the replicas applied it or rejected it (and why).",
		false, func(f *flags) { f.Int(&limit, "limit", 50, "show the newest N events (0: all)") },
		func(ctx context.Context, _ *logCLIOptions, log *policystore.Log, rest []string) error {
			if len(rest) != 0 {
				return usagef("policy history: unexpected arguments %s", joinQuoted(rest))
			}
			lines, err := historyLines(ctx, log, limit)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tTIME\tKIND\tAUTHOR\tCHANGE\tSTATUS")
			for _, l := range lines {
				fmt.Fprintln(tw, l)
			}
			return tw.Flush()
		})
}

// historyLines folds the whole log (to know which events were rejected)
// and returns the newest limit lines.
func historyLines(ctx context.Context, log *policystore.Log, limit int) ([]string, error) {
	fold := decider.NewFold(nil, 0)
	var lines []string
	err := log.Read(ctx, 1, 0, func(r policystore.Record) error {
		c, err := policystore.ApplyRecord(fold, log.Trust(), r)
		status := "applied"
		if err != nil {
			var ce *decider.ChangeError
			if errors.As(err, &ce) {
				status = "rejected (" + ce.Reason + "): " + ce.Err.Error()
			} else {
				status = "rejected: " + err.Error()
			}
		}
		lines = append(lines, historyLine(r, c, status))
		if limit > 0 && len(lines) > 2*limit {
			lines = append(lines[:0], lines[len(lines)-limit:]...)
		}
		return nil
	})
	if limit > 0 && len(lines) > limit {
		lines = lines[len(lines)-limit:]
	}
	return lines, err
}

func historyLine(r policystore.Record, c *decider.Change, status string) string {
	when, author, change := r.Stored, "", "(unreadable)"
	if c != nil {
		author = c.Author
		if !c.Time.IsZero() {
			when = c.Time
		}
		change = describeChange(c)
	}
	return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", r.Seq, when.UTC().Format(time.RFC3339), r.Kind,
		cmp.Or(author, "-"), change, status)
}

func describeChange(c *decider.Change) string {
	switch c.Kind {
	case decider.ChangeReplaced:
		if c.Document == nil {
			return "no document"
		}
		s := fmt.Sprintf("%d rules, %d lists", len(c.Document.Rules), len(c.Document.Lists))
		if c.RollbackOf != 0 {
			s += fmt.Sprintf(", rollback to %d", c.RollbackOf)
		}
		return s
	case decider.ChangeListAdded:
		return fmt.Sprintf("%s +%d ids", c.List, len(c.IDs))
	case decider.ChangeListRemoved:
		return fmt.Sprintf("%s -%d ids", c.List, len(c.IDs))
	}
	return c.Kind
}

func cmdPolicyStatus(ctx context.Context, e env, args []string) error {
	return logCommand(ctx, e, args, "policy status", "invitegate policy status [flags]",
		"Lists the live ingress replicas of the app (those that reported within --replica-stale),\n"+
			"the revision each decides with, and the log's newest revision and compacted snapshot.",
		false, nil,
		func(ctx context.Context, o *logCLIOptions, log *policystore.Log, rest []string) error {
			if len(rest) != 0 {
				return usagef("policy status: unexpected arguments %s", joinQuoted(rest))
			}
			head, err := log.Head(ctx)
			if err != nil {
				return err
			}
			snap, ok, err := policystore.StatSnapshot(ctx, log.Stores().Snapshots, log.App())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "app %s: newest event %d", log.App(), head)
			if ok {
				fmt.Fprintf(e.stdout, ", compacted snapshot at revision %d (covers %d)", snap.Revision, snap.Position)
			}
			fmt.Fprintln(e.stdout)
			live, err := log.Replicas(ctx, o.stale)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPLICA\tREVISION\tSOURCE\tREPORTED\tHOST")
			for _, r := range live {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s ago\t%s\n", r.Replica, r.Revision, r.Source, r.Age.Round(time.Millisecond), r.Host)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(live) == 0 {
				fmt.Fprintln(e.stdout, "no live replica")
			}
			return nil
		})
}

// yamlLines renders a document as YAML lines for diff.
func yamlLines(doc *decider.Document) ([]string, error) {
	if doc == nil {
		return nil, nil
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), nil
}
