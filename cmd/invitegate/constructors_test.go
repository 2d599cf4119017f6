package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConstructorArgumentOrder holds every exported constructor of the
// module (func New...) to one argument order: (cfg, deps..., logger,
// registry). A config comes first, the logger and the metrics registry
// last, in that order.
func TestConstructorArgumentOrder(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, p := range modulePackages(t, repoRoot) {
		fset := token.NewFileSet()
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
			require.NoError(t, err)
			for _, d := range file.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "New") || !fn.Name.IsExported() {
					continue
				}
				var kinds []string
				for _, field := range fn.Type.Params.List {
					k := paramKind(field.Type)
					for range max(len(field.Names), 1) {
						kinds = append(kinds, k)
					}
				}
				checked++
				if msg := argumentOrder(kinds); msg != "" {
					t.Errorf("%s: %s.%s: %s", p.ImportPath, file.Name.Name, fn.Name.Name, msg)
				}
			}
		}
	}
	require.Greater(t, checked, 10)
}

// paramKind is "cfg", "logger", "registry" or "dep" for a parameter type.
func paramKind(e ast.Expr) string {
	s := types(e)
	switch {
	case s == "Config" || strings.HasSuffix(s, ".Config") || strings.HasSuffix(s, "Config") && !strings.Contains(s, "*"):
		return "cfg"
	case s == "*slog.Logger":
		return "logger"
	case s == "prometheus.Registerer" || s == "*prometheus.Registry":
		return "registry"
	}
	return "dep"
}

func types(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.StarExpr:
		return "*" + types(x.X)
	case *ast.SelectorExpr:
		return types(x.X) + "." + x.Sel.Name
	}
	return "?"
}

// argumentOrder returns what is wrong with kinds, or "".
func argumentOrder(kinds []string) string {
	joined := "," + strings.Join(kinds, ",") + ","
	switch {
	case strings.Contains(joined, ",cfg,") && kinds[0] != "cfg":
		return "the config comes first"
	case strings.Contains(joined, ",registry,") && kinds[len(kinds)-1] != "registry":
		return "the registry comes last"
	case strings.Contains(joined, ",logger,") && !strings.HasSuffix(joined, ",logger,") && !strings.HasSuffix(joined, ",logger,registry,"):
		return "the logger comes after the dependencies, before the registry"
	}
	return ""
}

func TestArgumentOrder(t *testing.T) {
	t.Parallel()
	require.Empty(t, argumentOrder([]string{"cfg", "dep", "dep", "logger", "registry"}))
	require.Empty(t, argumentOrder([]string{"cfg", "dep"}))
	require.Empty(t, argumentOrder([]string{"dep", "logger"}))
	require.NotEmpty(t, argumentOrder([]string{"cfg", "dep", "registry", "logger"}))
	require.NotEmpty(t, argumentOrder([]string{"dep", "cfg"}))
	require.NotEmpty(t, argumentOrder([]string{"cfg", "logger", "dep"}))
}
