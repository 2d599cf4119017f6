package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// Markers around the generated configuration reference in README.md.
const (
	configBegin = "<!-- BEGIN GENERATED CONFIG REFERENCE (make docs) -->"
	configEnd   = "<!-- END GENERATED CONFIG REFERENCE -->"
)

// documentedCommands are the commands whose --help is the configuration
// reference, in README order.
var documentedCommands = [][]string{{"run"}, {"ingress"}, {"projector"}, {"migrate"}, {"decisions"},
	{"policy", "check"}, {"policy", "apply"}, {"policy", "show"}, {"policy", "history"}, {"policy", "diff"},
	{"policy", "rollback"}, {"policy", "status"}, {"policy", "test"}, {"policy", "explain"}, {"policy", "replay"},
	{"list", "add"}, {"list", "remove"}, {"list", "show"},
	{"loadgen"}}

// configReference renders the --help of every documented command as the
// README's configuration reference.
func configReference() string {
	var b strings.Builder
	b.WriteString(configBegin + "\n")
	for _, c := range documentedCommands {
		var out bytes.Buffer
		Main(context.Background(), append(append([]string{}, c...), "--help"),
			env{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard, getenv: func(string) string { return "" }})
		fmt.Fprintf(&b, "\n#### `invitegate %s`\n\n```text\n%s```\n", strings.Join(c, " "), out.String())
	}
	b.WriteString("\n" + configEnd)
	return b.String()
}

// cmdDocs rewrites the configuration reference in the README given as its
// argument (make docs), or prints it.
func cmdDocs(_ context.Context, e env, args []string) error {
	ref := configReference()
	if len(args) == 0 {
		fmt.Fprintln(e.stdout, ref)
		return nil
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, configBegin), strings.Index(s, configEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: markers %q and %q not found", args[0], configBegin, configEnd)
	}
	s = s[:i] + ref + s[j+len(configEnd):]
	return os.WriteFile(args[0], []byte(s), 0o644)
}
