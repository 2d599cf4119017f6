package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed (invalid policy, start-up error, ...)
	exitUsage   = 2 // the command line or environment is wrong
)

// env is what a command reads from its surroundings; tests supply their own.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"run":       {"every role in one process: ingress, projector, embedded NATS without --nats-url", cmdRun},
		"ingress":   {"the callback server alone (decides from the in-memory policy, publishes events)", cmdIngress},
		"projector": {"the JetStream -> PostgreSQL projector alone", cmdProjector},
		"migrate":   {"migrate the PostgreSQL schema (and the JetStream streams with --nats-url): up | down | status", cmdMigrate},
		"decisions": {"why was this refused? a member's or operator's decisions, with rule and policy author", cmdDecisions},
		"policy":    {"the policy log: check, apply, show, history, diff, rollback, status; the workbench: test, explain, replay", cmdPolicy},
		"list":      {"change a policy list by events: add|remove NAME ID... (- reads stdin), show NAME", cmdList},
		"loadgen":   {"simulate IM: send callbacks at a rate and report latency and outcomes", cmdLoadgen},
		"version":   {"print the version", cmdVersion},
		"docs":      {"print the configuration reference (or rewrite it in README.md: docs README.md)", cmdDocs},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		writeTopUsage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "invitegate: unknown command %q\n\n", args[0])
		writeTopUsage(e.stderr)
		return exitUsage
	}
	err := cmd.run(ctx, e, args[1:])
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintf(e.stderr, "invitegate %s: %v\n", args[0], err)
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "invitegate %s: %v\n", args[0], err)
		return exitFailure
	}
}

// usageError marks an error in the command line or environment (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func writeTopUsage(w io.Writer) {
	fmt.Fprintln(w, "invitegate answers Tencent IM's Group.CallbackBeforeInviteJoinGroup from an in-memory")
	fmt.Fprintln(w, "policy and records every decision as an event (NATS JetStream -> PostgreSQL).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: invitegate <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'invitegate <command> --help' for its flags. Every flag --x-y is also read from")
	fmt.Fprintln(w, "the environment variable "+EnvPrefix+"X_Y; the flag wins.")
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func cmdVersion(_ context.Context, e env, _ []string) error {
	fmt.Fprintln(e.stdout, "invitegate", version)
	return nil
}

// parseFlags parses args with f and turns flag errors into usage errors.
func parseFlags(f *flags, args []string, e env) ([]string, error) {
	rest, err := f.parse(args, e.stdout)
	if err != nil && !errors.Is(err, errHelp) {
		return nil, usageError{err}
	}
	return rest, err
}

func joinQuoted(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
