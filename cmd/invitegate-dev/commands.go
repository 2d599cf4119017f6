package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of the development binary.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"compare":     {"side by side: bare net/http, ingress events off and on, OPA; end to end (make bench-compare)", cmdCompare},
		"bench":       {"bench projector | bench analytics (make bench-projector, make bench-analytics)", cmdBench},
		"barehandler": {"serve the bare net/http baseline handler the comparison measures", cmdBarehandler},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the process exit code: 0
// success, 1 failure, 2 a wrong command line.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w, code := stdout, 0
		if len(args) == 0 {
			w, code = stderr, 2
		}
		writeUsage(w)
		return code
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "invitegate-dev: unknown command %q\n\n", args[0])
		writeUsage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "invitegate-dev %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "invitegate-dev %s: %v\n", args[0], err)
		return 1
	}
}

func writeUsage(w io.Writer) {
	fmt.Fprintln(w, "invitegate-dev is the development binary of invitegate: benchmarks and comparisons.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: invitegate-dev <command> [flags]   (go run ./cmd/invitegate-dev <command>)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
}

// usageError marks an error in the command line (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// newFlagSet returns the flags of command name, printing its usage (about
// and the flags) to w.
func newFlagSet(name string, w io.Writer, about string) *flag.FlagSet {
	f := flag.NewFlagSet(name, flag.ContinueOnError)
	f.SetOutput(w)
	f.Usage = func() {
		fmt.Fprintf(w, "Usage: invitegate-dev %s [flags]\n\n%s\n\nFlags:\n", name, about)
		f.PrintDefaults()
	}
	return f
}

// parse parses args with f; a flag error is a usage error, --help is
// flag.ErrHelp, and arguments left over are refused.
func parse(f *flag.FlagSet, args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if f.NArg() > 0 {
		return usagef("unexpected arguments %q", f.Args())
	}
	return nil
}

// newLogger logs warnings and errors as text.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
