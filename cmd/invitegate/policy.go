package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// policySubcommands are the subcommands of `invitegate policy`.
var policySubcommands = map[string]struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}{
	"check":    {"FILE: validate a policy document (YAML or JSON) offline; exits 1 when it is invalid", cmdPolicyCheck},
	"apply":    {"FILE [--wait] [--replay DURATION]: publish the document as a replaced event (a new revision)", cmdPolicyApply},
	"show":     {"[--revision N]: print the document in force (at revision N) and its list sizes", cmdPolicyShow},
	"history":  {"[--limit N]: list the policy log's events, applied or rejected", cmdPolicyHistory},
	"diff":     {"A B: what changed between revisions A and B (document and lists)", cmdPolicyDiff},
	"rollback": {"N [--wait]: publish the document in force at revision N as a new replaced event", cmdPolicyRollback},
	"replay":   {"CANDIDATE --since DURATION: what the candidate would have changed over recorded invites", cmdPolicyReplay},
	"status":   {"live ingress replicas and the revision each decides with", cmdPolicyStatus},
	"explain":  {"[--policy FILE] < body.json: what every rule evaluated to for one callback body", cmdPolicyExplain},
	"test":     {"POLICY TESTFILE... [--coverage]: run table-driven YAML tests of a policy, offline", cmdPolicyTest},
	"keygen":   {"--out NAME: write an Ed25519 key pair (NAME.key, NAME.pub) that signs policy changes", cmdPolicyKeygen},
}

func writePolicyUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: invitegate policy <subcommand> [flags]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(policySubcommands))
	for n := range policySubcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, policySubcommands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "apply, show, history, diff, rollback, status and explain without --policy read the policy")
	fmt.Fprintln(w, "log on NATS (--nats-url, --sdkappid); replay and apply --replay read PostgreSQL (--database-url);")
	fmt.Fprintln(w, "'invitegate policy <subcommand> --help' lists its flags.")
}

func cmdPolicy(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		writePolicyUsage(e.stdout)
		if len(args) == 0 {
			return usagef("policy: a subcommand is required")
		}
		return nil
	}
	sub, ok := policySubcommands[args[0]]
	if !ok {
		return usagef("policy: unknown subcommand %q (want apply, check, diff, explain, history, keygen, replay, rollback, show, status or test)", args[0])
	}
	return sub.run(ctx, e, args[1:])
}

func cmdPolicyCheck(_ context.Context, e env, args []string) error {
	f := newFlags("policy check", "invitegate policy check FILE",
		"Validates a policy document: YAML or JSON, CEL rules, lists, error codes.", e.getenv)
	rest, err := parseFlags(f, args, e)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("policy check: want exactly one FILE, got %d arguments", len(rest))
	}
	snap, err := loadPolicyFile(rest[0], 0)
	if err != nil {
		return err
	}
	doc := snap.Document()
	if err := decider.CheckDocumentSize(doc); err != nil {
		return fmt.Errorf("policy %s cannot be published:\n%w", rest[0], err)
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d rules, %d lists)\n", rest[0], len(doc.Rules), len(doc.Lists))
	return nil
}

// loadPolicyFile reads, parses and compiles a policy file.
func loadPolicyFile(path string, revision uint64) (*decider.Snapshot, error) {
	data, err := readBounded(path, decider.MaxDocumentFileBytes)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	doc, err := decider.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	snap, err := decider.Compile(doc, revision)
	if err != nil {
		var ve *decider.ValidationError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("policy %s is invalid:\n%w", path, err)
		}
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return snap, nil
}

func cmdPolicyApply(ctx context.Context, e env, args []string) error {
	var (
		reason, window string
		yes            bool
		ro             replayOptions
	)
	outer := ctx // the replay and the question are not bounded by --timeout
	return logCommand(ctx, e, args, "policy apply", "invitegate policy apply FILE [flags]",
		"Publishes FILE (validated first: nothing invalid is published) as a replaced event of the\n"+
			"policy log; every ingress replica decides with it within milliseconds. A list the document\n"+
			"declares empty keeps the entries list events gave it; one it gives entries takes exactly those.\n"+
			"With --replay DURATION it first replays the app's invites of that window with FILE (see\n"+
			"policy replay), prints the summary and asks for confirmation on the terminal (--yes skips it).",
		true, func(f *flags) {
			f.String(&reason, "reason", "", "why, recorded with the change")
			f.String(&window, "replay", "", "replay the app's invites of this window (168h, 7d) with FILE and confirm before publishing")
			f.Bool(&yes, "yes", false, "with --replay: publish without asking")
			ro.register(f)
		},
		func(ctx context.Context, o *logCLIOptions, log *policystore.Log, rest []string) error {
			if len(rest) != 1 {
				return usagef("policy apply: want exactly one FILE, got %d arguments", len(rest))
			}
			snap, err := loadPolicyFile(rest[0], 0)
			if err != nil {
				return err
			}
			if window != "" {
				if err := confirmPublish(outer, e, &ro, window, o.app, snap, yes); err != nil {
					return err
				}
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(outer, o.timeout)
				defer cancel()
			}
			c := &decider.Change{Kind: decider.ChangeReplaced, Document: snap.Document(), Author: o.author,
				Time: time.Now().UTC(), Reason: reason}
			return publishChange(ctx, e, o, log, c, fmt.Sprintf("applied %s", rest[0]))
		})
}

func cmdPolicyRollback(ctx context.Context, e env, args []string) error {
	return logCommand(ctx, e, args, "policy rollback", "invitegate policy rollback N [flags]",
		"Publishes the document in force at revision N as a new replaced event (the log keeps its\n"+
			"history). Lists kept with list events keep their current entries.",
		true, nil,
		func(ctx context.Context, o *logCLIOptions, log *policystore.Log, rest []string) error {
			if len(rest) != 1 {
				return usagef("policy rollback: want exactly one revision N, got %d arguments", len(rest))
			}
			rev, err := parseRevision(rest[0])
			if err != nil {
				return err
			}
			fold, err := stateAt(ctx, log, rev)
			if err != nil {
				return err
			}
			c := &decider.Change{Kind: decider.ChangeReplaced, Document: fold.Document(), Author: o.author,
				Time: time.Now().UTC(), RollbackOf: rev, Reason: fmt.Sprintf("rollback to revision %d", rev)}
			return publishChange(ctx, e, o, log, c, fmt.Sprintf("rolled back to the document of revision %d", fold.Revision()))
		})
}

// publishChange publishes c, prints its revision and waits with --wait.
func publishChange(ctx context.Context, e env, o *logCLIOptions, log *policystore.Log, c *decider.Change, what string) error {
	rev, err := log.Publish(ctx, c)
	if err != nil {
		return err
	}
	published := time.Now()
	fmt.Fprintf(e.stdout, "%s: revision %d\n", what, rev)
	return o.waitReplicas(ctx, e, log, rev, published)
}

func parseRevision(s string) (uint64, error) {
	rev, err := strconv.ParseUint(s, 10, 64)
	if err != nil || rev == 0 {
		return 0, usagef("revision %q: want a positive integer", s)
	}
	return rev, nil
}

// stateAt folds the log up to rev (0: the head) and fails when rev is
// beyond the head or no policy is in force there.
func stateAt(ctx context.Context, log *policystore.Log, rev uint64) (*decider.Fold, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return nil, err
	}
	if rev > head {
		return nil, fmt.Errorf("revision %d is beyond the newest event of app %s (%d)", rev, log.App(), head)
	}
	fold, err := log.State(ctx, rev, nil)
	if err != nil {
		return nil, err
	}
	if fold.Document() == nil {
		return nil, fmt.Errorf("no policy is in force for app %s at revision %d", log.App(), max(rev, head))
	}
	return fold, nil
}
