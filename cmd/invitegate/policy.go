package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/invitegate/invitegate/decider"
)

func cmdPolicy(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(e.stdout, "Usage: invitegate policy check FILE")
		fmt.Fprintln(e.stdout)
		fmt.Fprintln(e.stdout, "  check FILE   validate a policy document (YAML or JSON); prints every problem,")
		fmt.Fprintln(e.stdout, "               exits 1 when the policy is invalid")
		if len(args) == 0 {
			return usagef("policy: a subcommand is required")
		}
		return nil
	}
	switch args[0] {
	case "check":
		return cmdPolicyCheck(ctx, e, args[1:])
	default:
		return usagef("policy: unknown subcommand %q (want check)", args[0])
	}
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
	fmt.Fprintf(e.stdout, "%s: ok (%d rules, %d lists)\n", rest[0], len(doc.Rules), len(doc.Lists))
	return nil
}

// loadPolicyFile reads, parses and compiles a policy file.
func loadPolicyFile(path string, revision uint64) (*decider.Snapshot, error) {
	data, err := os.ReadFile(path)
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
