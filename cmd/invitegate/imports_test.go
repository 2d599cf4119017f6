package main

import (
	"errors"
	"go/build"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/invitegate/invitegate"

// floors are the layers of the house, from the bottom: a package imports
// only packages on its own floor or below it, tests included. ingress and
// projector share a floor but never import each other: they meet through
// JetStream and PostgreSQL only.
var floors = []struct {
	prefix string
	floor  int
}{
	{"decider", 0},
	{"migrations", 1},
	{"ingress", 2},
	{"projector", 2},
	{"cmd", 3},
	{"deploy", 3},
}

// noNetwork are the imports the pure domain never makes itself.
var noNetwork = []string{"net", "net/http", "database/sql", "github.com/jackc/", "github.com/nats-io/"}

// TestImportsPointDown holds every package of the module, its tests and
// the fault and soak suites included, to the layout of the house: imports
// point down the data path (decider <- migrations <- ingress, projector <-
// cmd), nothing outside cmd/ imports cmd/..., ingress and projector never
// import each other, and decider imports no network or database package.
func TestImportsPointDown(t *testing.T) {
	t.Parallel()
	pkgs := modulePackages(t, "../..")
	if len(pkgs) < 20 {
		t.Fatalf("found %d packages of the module: the walk is broken", len(pkgs))
	}
	for _, p := range pkgs {
		from := strings.TrimPrefix(p.ImportPath, module+"/")
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			if msg := importRule(from, imp); msg != "" {
				t.Errorf("%s imports %s: %s", from, imp, msg)
			}
		}
	}
}

// importRule returns why from may not import imp, or "".
func importRule(from, imp string) string {
	if !strings.HasPrefix(imp, module+"/") {
		if floorOf(from) == 0 {
			for _, n := range noNetwork {
				if imp == n || strings.HasSuffix(n, "/") && strings.HasPrefix(imp, n) {
					return "decider is the pure domain: no network or database"
				}
			}
		}
		return ""
	}
	to := strings.TrimPrefix(imp, module+"/")
	top := func(p string) string { return strings.SplitN(p, "/", 2)[0] }
	switch {
	case top(to) == "cmd" && top(from) != "cmd":
		return "nothing outside cmd/ imports cmd/..."
	case top(from) != top(to) && (top(from) == "ingress" || top(from) == "projector") && floorOf(to) == 2:
		return "ingress and projector meet only through JetStream and PostgreSQL"
	case floorOf(to) > floorOf(from):
		return "imports point down the data path: decider <- migrations <- ingress, projector <- cmd"
	case top(from) == "cmd" && top(to) == "cmd" && !strings.HasPrefix(to, "cmd/internal/"):
		return "the commands' libraries live under cmd/internal/"
	}
	return ""
}

func floorOf(p string) int {
	for _, f := range floors {
		if p == f.prefix || strings.HasPrefix(p, f.prefix+"/") {
			return f.floor
		}
	}
	return len(floors) // unknown: the top, so that it can import nothing unknown below
}

// modulePackages reads every package under root, with the build tags of
// the fault and soak suites.
func modulePackages(t *testing.T, root string) []*build.Package {
	t.Helper()
	ctx := build.Default
	ctx.BuildTags = []string{"faults", "soak"}
	var pkgs []*build.Package
	err := filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); dir != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		p, err := ctx.ImportDir(dir, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return err
		}
		p.ImportPath = path.Join(module, filepath.ToSlash(rel))
		pkgs = append(pkgs, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestImportRule checks the rule on the mistakes it is there to catch.
func TestImportRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from, imp string
		ok        bool
	}{
		{"ingress/outbox", module + "/migrations/natsconn", true},
		{"projector/stats", module + "/decider/startstop", true},
		{"cmd/invitegate", module + "/cmd/internal/loadgen", true},
		{"cmd/invitegate-dev", module + "/projector/bench", true},
		{"ingress/outbox", module + "/cmd/internal/faults", false},
		{"projector/stats", module + "/ingress/statsfeed", false},
		{"ingress/policyfeed", module + "/projector/policylog", false},
		{"migrations/policystore", module + "/ingress/policyfeed", false},
		{"decider", module + "/migrations", false},
		{"decider", "github.com/nats-io/nats.go", false},
		{"decider", "net/http", false},
		{"decider", "net/netip", true},
		{"cmd/invitegate-dev", module + "/cmd/invitegate", false},
	} {
		if got := importRule(tc.from, tc.imp) == ""; got != tc.ok {
			t.Errorf("%s importing %s allowed = %v, want %v", tc.from, tc.imp, got, tc.ok)
		}
	}
}
