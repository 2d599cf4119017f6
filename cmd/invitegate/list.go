package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// Batching of `list add` and `list remove`: one event holds at most this
// many ids, and at most maxEventBytes of them (under NATS's 1 MiB default
// max_payload, with room for the JSON around them).
const (
	defaultBatchIDs = 50000
	maxEventBytes   = 900 << 10
)

func cmdList(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(e.stdout, "Usage: invitegate list add|remove NAME ID... | list show NAME")
		fmt.Fprintln(e.stdout)
		fmt.Fprintln(e.stdout, "  add NAME ID...     add ids to a list of the policy in force (an ID of - reads ids from")
		fmt.Fprintln(e.stdout, "                     stdin, one per line, published in batches: millions are fine)")
		fmt.Fprintln(e.stdout, "  remove NAME ID...  remove ids from the list (- reads stdin too)")
		fmt.Fprintln(e.stdout, "  show NAME          print the list's entries, sorted, one per line")
		if len(args) == 0 {
			return usagef("list: a subcommand is required")
		}
		return nil
	}
	switch args[0] {
	case "add":
		return cmdListChange(ctx, e, args[1:], decider.ChangeListAdded)
	case "remove":
		return cmdListChange(ctx, e, args[1:], decider.ChangeListRemoved)
	case "show":
		return cmdListShow(ctx, e, args[1:])
	}
	return usagef("list: unknown subcommand %q (want add, remove or show)", args[0])
}

func cmdListChange(ctx context.Context, e env, args []string, kind string) error {
	verb := strings.TrimPrefix(kind, "list.")
	sub := map[string]string{decider.ChangeListAdded: "add", decider.ChangeListRemoved: "remove"}[kind]
	var batch int
	return logCommand(ctx, e, args, "list "+sub, "invitegate list "+sub+" NAME ID... [flags]",
		"Publishes "+kind+" events for the list NAME of the policy in force. An ID of - reads ids\n"+
			"from stdin, one per line (blank lines and lines starting with # are skipped). Every id is\n"+
			"checked before anything is published; ids go out in batches of --batch-ids.",
		true, func(f *flags) { f.Int(&batch, "batch-ids", defaultBatchIDs, "most ids in one event") },
		func(ctx context.Context, o *logCLIOptions, log *policystore.Log, rest []string) error {
			if len(rest) < 2 {
				return usagef("list %s: want NAME and at least one ID (or -)", sub)
			}
			if batch < 1 {
				return usagef("--batch-ids %d: want at least 1", batch)
			}
			ids, err := readIDs(rest[1:], e.stdin)
			if err != nil {
				return err
			}
			if err := checkListInForce(ctx, log, rest[0]); err != nil {
				return err
			}
			start := time.Now()
			first, last, events, err := publishIDs(ctx, log, o, kind, rest[0], ids, batch)
			if err != nil {
				return err
			}
			published := time.Now()
			fmt.Fprintf(e.stdout, "list %s: %s %d ids in %d events, revisions %d..%d, in %s\n",
				rest[0], verb, len(ids), events, first, last, published.Sub(start).Round(time.Millisecond))
			return o.waitReplicas(ctx, e, log, last, published)
		})
}

// readIDs returns the ids of args, reading stdin for "-", each checked
// with decider.CheckListID (errors name the argument or the stdin line).
func readIDs(args []string, stdin io.Reader) ([]string, error) {
	var ids []string
	for i, a := range args {
		if a != "-" {
			if err := decider.CheckListID(a); err != nil {
				return nil, usagef("ID %d: %v", i+1, err)
			}
			ids = append(ids, a)
			continue
		}
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for line := 1; sc.Scan(); line++ {
			id := strings.TrimSpace(sc.Text())
			if id == "" || strings.HasPrefix(id, "#") {
				continue
			}
			if err := decider.CheckListID(id); err != nil {
				return nil, fmt.Errorf("stdin line %d: %w (nothing was published)", line, err)
			}
			ids = append(ids, id)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read ids from stdin: %w (nothing was published)", err)
		}
	}
	if len(ids) == 0 {
		return nil, usagef("no ids given")
	}
	return ids, nil
}

// checkListInForce refuses a list the policy in force lacks: the replicas
// would reject the events.
func checkListInForce(ctx context.Context, log *policystore.Log, name string) error {
	doc, err := log.Document(ctx)
	if err != nil {
		return err
	}
	return (&decider.Change{Kind: decider.ChangeListAdded, List: name, IDs: []string{"x"}}).CheckAgainst(doc)
}

// publishIDs publishes ids in events of at most batch ids and
// maxEventBytes, and returns the first and last revisions.
func publishIDs(ctx context.Context, log *policystore.Log, o *logCLIOptions, kind, list string, ids []string, batch int) (first, last uint64, events int, err error) {
	for len(ids) > 0 {
		n, size := 0, 0
		for n < len(ids) && n < batch && size+len(ids[n])+3 <= maxEventBytes {
			size += len(ids[n]) + 3
			n++
		}
		n = max(n, 1)
		c := &decider.Change{Kind: kind, List: list, IDs: ids[:n], Author: o.author, Time: time.Now().UTC()}
		rev, err := log.Publish(ctx, c)
		if err != nil {
			return first, last, events, fmt.Errorf("after %d events (revisions %d..%d): %w", events, first, last, err)
		}
		if first == 0 {
			first = rev
		}
		last, events, ids = rev, events+1, ids[n:]
	}
	return first, last, events, nil
}

func cmdListShow(ctx context.Context, e env, args []string) error {
	var rev uint64
	return logCommand(ctx, e, args, "list show", "invitegate list show NAME [flags]",
		"Prints the entries of the list NAME in the policy in force (or as of --revision N), sorted,\n"+
			"one per line: what list add and list remove made of it.",
		false, func(f *flags) { f.Uint64(&rev, "revision", 0, "as of this revision (0: the newest)") },
		func(ctx context.Context, _ *logCLIOptions, log *policystore.Log, rest []string) error {
			if len(rest) != 1 {
				return usagef("list show: want exactly one NAME, got %d arguments", len(rest))
			}
			fold, err := stateAt(ctx, log, rev)
			if err != nil {
				return err
			}
			s := fold.Snapshot()
			if s.ListSize(rest[0]) < 0 {
				return fmt.Errorf("list %q is not in the policy at revision %d (lists: %s)", rest[0], s.Revision(), strings.Join(s.ListNames(), ", "))
			}
			w := bufio.NewWriterSize(e.stdout, 64<<10)
			for _, id := range s.ListEntries(rest[0]) {
				w.WriteString(id)
				w.WriteByte('\n')
			}
			return w.Flush()
		})
}
