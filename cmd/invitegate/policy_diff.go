package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// diffSamples is how many added and removed ids diff prints per list.
const diffSamples = 10

func cmdPolicyDiff(ctx context.Context, e env, args []string) error {
	return logCommand(ctx, e, args, "policy diff", "invitegate policy diff A B [flags]",
		"Shows what changed from revision A to revision B: the document (a line diff of its YAML)\n"+
			"and, for each list, how many ids were added and removed, with examples.",
		false, nil,
		func(ctx context.Context, _ *logCLIOptions, log *policystore.Log, rest []string) error {
			if len(rest) != 2 {
				return usagef("policy diff: want two revisions A B, got %d arguments", len(rest))
			}
			a, err := parseRevision(rest[0])
			if err != nil {
				return err
			}
			b, err := parseRevision(rest[1])
			if err != nil {
				return err
			}
			fold, err := stateAt(ctx, log, min(a, b))
			if err != nil {
				return err
			}
			from := fold.Snapshot()
			err = log.Read(ctx, fold.Position()+1, max(a, b), func(r policystore.Record) error {
				_, _ = fold.ApplyEvent(r.Kind, r.Data, r.Seq)
				return nil
			})
			if err != nil {
				return err
			}
			to := fold.Snapshot()
			if a > b {
				from, to = to, from
			}
			return writeDiff(e.stdout, a, b, from, to)
		})
}

func writeDiff(w io.Writer, a, b uint64, from, to *decider.Snapshot) error {
	fmt.Fprintf(w, "--- revision %d (in force: %d)\n+++ revision %d (in force: %d)\n", a, from.Revision(), b, to.Revision())
	x, err := yamlLines(from.Document())
	if err != nil {
		return err
	}
	y, err := yamlLines(to.Document())
	if err != nil {
		return err
	}
	if !writeLineDiff(w, x, y) {
		fmt.Fprintln(w, "document: unchanged")
	}
	names := map[string]bool{}
	for _, n := range append(from.ListNames(), to.ListNames()...) {
		names[n] = true
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		writeListDiff(w, n, from, to)
	}
	return nil
}

func writeListDiff(w io.Writer, name string, from, to *decider.Snapshot) {
	var added, removed []string
	for _, id := range to.ListEntries(name) {
		if !from.ListHas(name, id) {
			added = append(added, id)
		}
	}
	for _, id := range from.ListEntries(name) {
		if !to.ListHas(name, id) {
			removed = append(removed, id)
		}
	}
	fmt.Fprintf(w, "list %s: %d -> %d entries, +%d -%d\n", name, max(from.ListSize(name), 0), max(to.ListSize(name), 0), len(added), len(removed))
	for _, id := range added[:min(len(added), diffSamples)] {
		fmt.Fprintf(w, "  + %s\n", id)
	}
	for _, id := range removed[:min(len(removed), diffSamples)] {
		fmt.Fprintf(w, "  - %s\n", id)
	}
	if len(added) > diffSamples || len(removed) > diffSamples {
		fmt.Fprintf(w, "  (first %d of each shown)\n", diffSamples)
	}
}

// maxDiffCells bounds the line diff's table (lines of x times lines of y).
const maxDiffCells = 4 << 20

// writeLineDiff writes the lines that differ between x and y, with two
// lines of context, and reports whether any did.
func writeLineDiff(w io.Writer, x, y []string) bool {
	if slices.Equal(x, y) {
		return false
	}
	if len(x)*len(y) > maxDiffCells {
		fmt.Fprintf(w, "document: changed (%d -> %d lines; too long to diff line by line)\n", len(x), len(y))
		return true
	}
	// lcs[i][j] is the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int32, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []string // "  line", "- line", "+ line"
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops, i, j = append(ops, "  "+x[i]), i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			ops, j = append(ops, "+ "+y[j]), j+1
		default:
			ops, i = append(ops, "- "+x[i]), i+1
		}
	}
	writeHunks(w, ops, 2)
	return true
}

// writeHunks prints the changed ops with context lines around them.
func writeHunks(w io.Writer, ops []string, context int) {
	show := make([]bool, len(ops))
	for k, op := range ops {
		if op[0] != ' ' {
			for c := max(0, k-context); c <= min(len(ops)-1, k+context); c++ {
				show[c] = true
			}
		}
	}
	gap := false
	for k, op := range ops {
		if !show[k] {
			gap = true
			continue
		}
		if gap {
			fmt.Fprintln(w, "  ...")
			gap = false
		}
		fmt.Fprintln(w, op)
	}
}
