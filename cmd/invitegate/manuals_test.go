package main

import (
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

// The manuals are the Markdown files of the repository: the front door
// (README.md) and the README.md beside each part, plus the dated results.
// These tests hold what they show to the code: every link and anchor
// resolves, every command line names commands, flags, make targets,
// packages and benchmarks that exist, and every query runs.

const repoRoot = "../.."

// manual is one Markdown file, split into prose and fenced code blocks.
type manual struct {
	path   string // relative to the repository root
	prose  string
	blocks []codeBlock
}

type codeBlock struct {
	lang, text string
}

func readManuals(t *testing.T) []manual {
	t.Helper()
	var ms []manual
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != repoRoot {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".md") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		ms = append(ms, splitManual(filepath.ToSlash(rel), string(data)))
		return nil
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ms), 7, "README.md and the manuals beside each part")
	return ms
}

func splitManual(p, s string) manual {
	m := manual{path: p}
	var prose strings.Builder
	var block *codeBlock
	for line := range strings.SplitSeq(s, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case block == nil && strings.HasPrefix(trimmed, "```"):
			block = &codeBlock{lang: strings.TrimPrefix(trimmed, "```")}
		case block != nil && trimmed == "```":
			m.blocks = append(m.blocks, *block)
			block = nil
		case block != nil:
			block.text += line + "\n"
		default:
			prose.WriteString(line + "\n")
		}
	}
	m.prose = prose.String()
	return m
}

var (
	linkRE       = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	inlineCodeRE = regexp.MustCompile("`[^`\n]*`")
	repoURLRE    = regexp.MustCompile(`https://github\.com/invitegate/invitegate/blob/main/([^\s"'#)]+)(#[^\s"')]+)?`)
)

// anchors returns the GitHub anchors of the headings of a manual.
func anchors(m manual) map[string]bool {
	out := map[string]bool{}
	for line := range strings.SplitSeq(m.prose, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		for i := 1; out[slug]; i++ { // GitHub numbers repeated headings
			slug = strings.TrimSuffix(b.String(), "") + "-" + string(rune('0'+i))
		}
		out[slug] = true
	}
	return out
}

// TestManualLinks: every relative link of every manual, and every link to
// this repository's files in the alerts and manifests, points at a file
// that exists and, with a #fragment, at a heading of it.
func TestManualLinks(t *testing.T) {
	t.Parallel()
	ms := readManuals(t)
	byPath := map[string]manual{}
	for _, m := range ms {
		byPath[m.path] = m
	}
	check := func(from, target string) {
		file, frag, _ := strings.Cut(target, "#")
		resolved := path.Clean(path.Join(path.Dir(from), file))
		if file == "" {
			resolved = from
		}
		if _, err := os.Stat(filepath.Join(repoRoot, resolved)); err != nil {
			t.Errorf("%s: link %q: no file %s", from, target, resolved)
			return
		}
		if frag == "" {
			return
		}
		m, ok := byPath[resolved]
		if !ok {
			t.Errorf("%s: link %q: an anchor into %s, which is not a manual", from, target, resolved)
			return
		}
		if !anchors(m)[frag] {
			t.Errorf("%s: link %q: %s has no heading #%s", from, target, resolved, frag)
		}
	}
	for _, m := range ms {
		prose := inlineCodeRE.ReplaceAllString(m.prose, "")
		for _, l := range linkRE.FindAllStringSubmatch(prose, -1) {
			if target := l[1]; !strings.Contains(target, "://") && !strings.HasPrefix(target, "mailto:") {
				check(m.path, target)
			}
		}
	}
	for _, f := range []string{"deploy/prometheus/alerts.yaml", "deploy/grafana/invitegate.json"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		require.NoError(t, err)
		for _, l := range repoURLRE.FindAllStringSubmatch(string(data), -1) {
			check("README.md", l[1]+l[2]) // the repository root
		}
	}
}

// commandLines returns the command lines a manual shows: the lines of its
// sh blocks (continuations joined) and its inline code spans that start
// with a command.
func commandLines(m manual) []string {
	var lines []string
	for _, b := range m.blocks {
		if b.lang != "sh" && b.lang != "bash" && b.lang != "console" {
			continue
		}
		joined := strings.ReplaceAll(b.text, "\\\n", " ")
		for l := range strings.SplitSeq(joined, "\n") {
			lines = append(lines, strings.TrimPrefix(strings.TrimSpace(l), "$ "))
		}
	}
	for _, span := range inlineCodeRE.FindAllString(m.prose, -1) {
		lines = append(lines, strings.Trim(span, "`"))
	}
	var out []string
	for _, l := range lines {
		for _, prefix := range []string{"invitegate ", "make ", "go test ", "go run ", "deploy/bench/", "psql "} {
			if strings.HasPrefix(l, prefix) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// words splits a command line into words, up to a pipe, a redirection, a
// comment or a second command, and unquotes single-quoted words.
func words(line string) []string {
	var out []string
	for _, w := range regexp.MustCompile(`'[^']*'|\S+`).FindAllString(line, -1) {
		if w == "|" || w == "&&" || w == ";" || w == "#" || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") {
			break
		}
		out = append(out, strings.Trim(w, "'"))
	}
	return out
}

// TestManualCommandLines: every invitegate command line in the manuals
// names a command and flags that exist; every make target, package,
// benchmark and script exists.
func TestManualCommandLines(t *testing.T) {
	t.Parallel()
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	require.NoError(t, err)
	devCommands, err := os.ReadFile(filepath.Join(repoRoot, "cmd/invitegate-dev/commands.go"))
	require.NoError(t, err)
	checked := 0
	for _, m := range readManuals(t) {
		for _, line := range commandLines(m) {
			ws := words(line)
			if len(ws) < 2 || strings.ContainsAny(ws[1], "<[") || ws[1] == strings.ToUpper(ws[1]) && ws[1] != strings.ToLower(ws[1]) {
				continue // a placeholder: `invitegate <role> --help`, `invitegate CMD --help`
			}
			checked++
			switch ws[0] {
			case "invitegate":
				checkInvitegateLine(t, m.path, line, ws[1:])
			case "make":
				for _, target := range ws[1:] {
					if !strings.Contains(target, "=") && !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(target)+`:`).Match(makefile) {
						t.Errorf("%s: `%s`: no make target %s", m.path, line, target)
					}
				}
			case "go":
				checkGoLine(t, m.path, line, ws, string(devCommands))
			case "psql":
				// the queries run in TestManualQueries
			default:
				if _, err := os.Stat(filepath.Join(repoRoot, ws[0])); err != nil {
					t.Errorf("%s: `%s`: no script %s", m.path, line, ws[0])
				}
			}
		}
	}
	require.Greater(t, checked, 20, "the manuals show command lines")
}

func checkInvitegateLine(t *testing.T, file, line string, args []string) {
	t.Helper()
	for _, problem := range invitegateLineProblems(t, args) {
		t.Errorf("%s: `%s`: %s", file, line, problem)
	}
}

// invitegateLineProblems returns what is wrong with `invitegate args...`:
// an unknown command, or a flag its --help does not list.
func invitegateLineProblems(t *testing.T, args []string) []string {
	t.Helper()
	name := strings.SplitN(args[0], "|", 2)[0]
	if _, ok := commands()[name]; !ok {
		return []string{"no command " + name}
	}
	help := func(path ...string) (string, bool) {
		code, out, _ := runMain(t, nil, append(path, "--help")...)
		return out, code == exitOK && strings.HasPrefix(out, "Usage:")
	}
	usage, ok := "", false
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		usage, ok = help(name, strings.SplitN(args[1], "|", 2)[0])
	}
	if !ok {
		usage, ok = help(name)
	}
	var problems []string
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		flag, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok || !regexp.MustCompile(`--`+regexp.QuoteMeta(flag)+`\b`).MatchString(usage) {
			problems = append(problems, "invitegate "+name+" has no flag --"+flag)
		}
	}
	return problems
}

// TestInvitegateLineProblems: the check finds the mistakes it is there for.
func TestInvitegateLineProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"policy apply --wait policy.yaml", true},
		{"policy apply --author=bob policy.yaml", true},
		{"migrate status", true},
		{"list add banned - --wait", true},
		{"ingress --events-off --sdkappid 1", true},
		{"policy apply --no-such-flag policy.yaml", false},
		{"bench projector", false},
		{"run --outbox-batch-dela 5ms", false},
	} {
		got := invitegateLineProblems(t, strings.Fields(tc.line))
		require.Equal(t, tc.ok, len(got) == 0, "%s: %v", tc.line, got)
	}
}

var benchFuncRE = regexp.MustCompile(`(?m)^func ((?:Benchmark|Test|Fuzz)\w*)\(`)

func checkGoLine(t *testing.T, file, line string, ws []string, devCommands string) {
	t.Helper()
	var pattern string
	var pkgs []string
	for i, w := range ws {
		switch {
		case (w == "-bench" || w == "-run" || w == "-fuzz") && i+1 < len(ws) && w != "-run":
			pattern = ws[i+1]
		case strings.HasPrefix(w, "./"):
			pkgs = append(pkgs, strings.TrimSuffix(w, "/..."))
		}
	}
	if ws[1] == "run" && len(pkgs) > 0 && pkgs[0] == "./cmd/invitegate-dev" {
		if len(ws) < 4 {
			return // the usage
		}
		for _, c := range strings.Split(ws[3], "|") {
			if !strings.Contains(devCommands, `"`+c+`":`) {
				t.Errorf("%s: `%s`: invitegate-dev has no command %s", file, line, c)
			}
		}
		return
	}
	for _, p := range pkgs {
		dir := filepath.Join(repoRoot, p)
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: `%s`: no package %s", file, line, p)
			continue
		}
		if pattern == "" || pattern == "^$" {
			continue
		}
		re, err := regexp.Compile(strings.Trim(pattern, "'"))
		if err != nil {
			t.Errorf("%s: `%s`: bad pattern: %v", file, line, err)
			continue
		}
		found := false
		tests, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		for _, f := range tests {
			data, _ := os.ReadFile(f)
			for _, fn := range benchFuncRE.FindAllStringSubmatch(string(data), -1) {
				found = found || re.MatchString(fn[1])
			}
		}
		if !found {
			t.Errorf("%s: `%s`: no benchmark, test or fuzz target matching %s in %s", file, line, pattern, p)
		}
	}
}

var psqlQueryRE = regexp.MustCompile(`-c\s+'([^']+)'`)

// TestManualQueries runs every query the manuals show (the psql command
// lines and the SELECTs of their sql blocks) against a migrated database.
func TestManualQueries(t *testing.T) {
	t.Parallel()
	var queries []string
	for _, m := range readManuals(t) {
		for _, line := range commandLines(m) {
			for _, q := range psqlQueryRE.FindAllStringSubmatch(line, -1) {
				queries = append(queries, m.path+": "+q[1])
			}
		}
		for _, b := range m.blocks {
			if b.lang != "sql" {
				continue
			}
			for stmt := range strings.SplitSeq(b.text, ";") {
				var code []string
				for l := range strings.SplitSeq(stmt, "\n") {
					if l, _, _ = strings.Cut(l, "--"); strings.TrimSpace(l) != "" {
						code = append(code, l)
					}
				}
				q := strings.TrimSpace(strings.Join(code, "\n"))
				if up := strings.ToUpper(q); strings.HasPrefix(up, "SELECT") || strings.HasPrefix(up, "WITH") {
					queries = append(queries, m.path+": "+q)
				}
			}
		}
	}
	require.Greater(t, len(queries), 5)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewMigrated(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, q := range queries {
		file, sql, _ := strings.Cut(q, ": ")
		rows, err := conn.Query(ctx, sql)
		if err == nil {
			rows.Close()
			err = rows.Err()
		}
		if err != nil {
			t.Errorf("%s: query fails: %v\n%s", file, err, sql)
		}
	}
}

var issueRE = regexp.MustCompile(`(?i)\bissues? ?#?[0-9]+|bars of (the )?issue` + "s?\\b")

// TestNoIssueNumbers: documents and comments speak of the product, not of
// how the work on it was organised.
func TestNoIssueNumbers(t *testing.T) {
	t.Parallel()
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != repoRoot && (name == ".git" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			if issueRE.MatchString(line) {
				t.Errorf("%s:%d: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// TestReadmeLayout: the layout table of README.md names paths that exist,
// and every package of the module, by its path or, for a package inside
// one, by its name on the row of that one.
func TestReadmeLayout(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	require.NoError(t, err)
	s := string(data)
	i := strings.Index(s, "## Layout")
	require.GreaterOrEqual(t, i, 0, "README.md has a Layout section")
	rows := map[string]string{} // path -> its row
	for line := range strings.SplitSeq(s[i:], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, span := range inlineCodeRE.FindAllString(cells[1], -1) {
			p := strings.TrimSuffix(strings.Trim(span, "`"), "/")
			rows[p] = line
			if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
				t.Errorf("README.md layout: no %s", p)
			}
		}
	}
	for _, p := range modulePackages(t, repoRoot) {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		if _, ok := rows[rel]; ok {
			continue
		}
		parent, name := path.Split(rel)
		if row := rows[strings.TrimSuffix(parent, "/")]; !strings.Contains(row, "`"+name+"`") && !strings.Contains(row, "`"+rel+"`") {
			t.Errorf("README.md layout: package %s is not in the table", rel)
		}
	}
}
