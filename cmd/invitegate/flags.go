package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// EnvPrefix prefixes the environment variable of every flag:
// --sdkappid is INVITEGATE_SDKAPPID, --max-clock-skew is INVITEGATE_MAX_CLOCK_SKEW.
const EnvPrefix = "INVITEGATE_"

// EnvName returns the environment variable that sets the flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flags wraps a flag.FlagSet so that every flag also reads its environment
// variable, and --help lists each with its variable and default.
type flags struct {
	fs      *flag.FlagSet
	usage   string // "invitegate run [flags]"
	summary string // one paragraph under the usage line
	getenv  func(string) string
}

func newFlags(name, usage, summary string, getenv func(string) string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if getenv == nil {
		getenv = os.Getenv
	}
	return &flags{fs: fs, usage: usage, summary: summary, getenv: getenv}
}

func (f *flags) String(p *string, name, def, help string) { f.fs.StringVar(p, name, def, help) }
func (f *flags) Int(p *int, name string, def int, help string) {
	f.fs.IntVar(p, name, def, help)
}
func (f *flags) Int64(p *int64, name string, def int64, help string) {
	f.fs.Int64Var(p, name, def, help)
}
func (f *flags) Uint64(p *uint64, name string, def uint64, help string) {
	f.fs.Uint64Var(p, name, def, help)
}
func (f *flags) Bool(p *bool, name string, def bool, help string) {
	f.fs.BoolVar(p, name, def, help)
}
func (f *flags) Duration(p *time.Duration, name string, def time.Duration, help string) {
	f.fs.DurationVar(p, name, def, help)
}
func (f *flags) Float(p *float64, name string, def float64, help string) {
	f.fs.Float64Var(p, name, def, help)
}

// StringList is a flag that may be repeated, each value also split at
// commas (so its environment variable holds a comma-separated list).
func (f *flags) StringList(p *[]string, name, help string) { f.fs.Var((*stringList)(p), name, help) }

type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

// errHelp is returned by parse when --help was asked for; the usage has been
// written to stdout.
var errHelp = errors.New("help requested")

// parse applies environment variables first, then the command line, so a
// flag always wins over its variable. Flags may come before, between or
// after the positional arguments (`migrate up --database-url URL` and
// `migrate --database-url URL up` are the same); "--" ends the flags and a
// lone "-" is positional. It returns the positional arguments in order.
func (f *flags) parse(args []string, stdout io.Writer) ([]string, error) {
	var envErr error
	f.fs.VisitAll(func(fl *flag.Flag) {
		if envErr != nil {
			return
		}
		v := f.getenv(EnvName(fl.Name))
		if v == "" {
			return
		}
		if err := fl.Value.Set(v); err != nil {
			envErr = fmt.Errorf("environment %s=%q: %w", EnvName(fl.Name), v, err)
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	flagArgs, pos := f.split(args)
	if err := f.fs.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.writeUsage(stdout)
			return nil, errHelp
		}
		return nil, fmt.Errorf("%s: %w (see --help)", f.fs.Name(), err)
	}
	return append(f.fs.Args(), pos...), nil
}

// split separates the flags (with the values of non-boolean ones) from the
// positional arguments. An unknown flag stays among the flags, alone, so
// that Parse reports it.
func (f *flags) split(args []string) (flagArgs, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flagArgs, append(pos, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flagArgs = append(flagArgs, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		fl := f.fs.Lookup(name)
		if hasValue || fl == nil || isBoolFlag(fl) || i+1 >= len(args) {
			continue
		}
		i++
		flagArgs = append(flagArgs, args[i])
	}
	return flagArgs, pos
}

func isBoolFlag(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// writeUsage prints the usage line, the summary and every flag, sorted, with
// its environment variable and default.
func (f *flags) writeUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n", f.usage)
	if f.summary != "" {
		fmt.Fprintf(w, "%s\n\n", f.summary)
	}
	var all []*flag.Flag
	f.fs.VisitAll(func(fl *flag.Flag) { all = append(all, fl) })
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	fmt.Fprintln(w, "Flags (each also read from its environment variable):")
	for _, fl := range all {
		kind, usage := flag.UnquoteUsage(fl)
		line := "  --" + fl.Name
		if kind != "" {
			line += " " + kind
		}
		fmt.Fprintf(w, "%s\n      %s\n      env %s", line, usage, EnvName(fl.Name))
		if fl.DefValue != "" && fl.DefValue != "0" && fl.DefValue != "false" && fl.DefValue != "0s" {
			fmt.Fprintf(w, ", default %s", fl.DefValue)
		}
		fmt.Fprintln(w)
	}
}
