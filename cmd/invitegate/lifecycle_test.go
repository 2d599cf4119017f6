package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestComponentsShareTheLifecycle: every type of the module with
// Start(context.Context) error and Stop(context.Context) error keeps its
// state in a startstop.State (directly or in a field of its own struct
// type), and its package runs startstoptest.Stress.
func TestComponentsShareTheLifecycle(t *testing.T) {
	t.Parallel()
	found := 0
	for _, p := range modulePackages(t, repoRoot) {
		fset := token.NewFileSet()
		structs := map[string]*ast.StructType{}
		methods := map[string]map[string]bool{}
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
			require.NoError(t, err)
			for _, d := range file.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					for _, s := range d.Specs {
						if ts, ok := s.(*ast.TypeSpec); ok {
							if st, ok := ts.Type.(*ast.StructType); ok {
								structs[ts.Name.Name] = st
							}
						}
					}
				case *ast.FuncDecl:
					if d.Recv == nil || !lifecycleMethod(d) {
						continue
					}
					recv := strings.TrimPrefix(types(d.Recv.List[0].Type), "*")
					if methods[recv] == nil {
						methods[recv] = map[string]bool{}
					}
					methods[recv][d.Name.Name] = true
				}
			}
		}
		for typ, m := range methods {
			if !m["Start"] || !m["Stop"] {
				continue
			}
			found++
			if !holdsState(structs, typ, 2) {
				t.Errorf("%s.%s has Start and Stop but no startstop.State", p.ImportPath, typ)
			}
			if !runsStress(t, p.Dir) {
				t.Errorf("%s.%s: no test of its package runs startstoptest.Stress", p.ImportPath, typ)
			}
		}
	}
	require.GreaterOrEqual(t, found, 8, "the components with goroutines")
}

// lifecycleMethod reports whether d is Start or Stop(context.Context) error.
func lifecycleMethod(d *ast.FuncDecl) bool {
	if d.Name.Name != "Start" && d.Name.Name != "Stop" {
		return false
	}
	ps, rs := d.Type.Params.List, d.Type.Results
	return len(ps) == 1 && types(ps[0].Type) == "context.Context" && rs != nil && len(rs.List) == 1 && types(rs.List[0].Type) == "error"
}

// holdsState reports whether struct typ has a startstop.State field, or a
// field of a struct type of the package that has one (depth levels down).
func holdsState(structs map[string]*ast.StructType, typ string, depth int) bool {
	st, ok := structs[typ]
	if !ok || depth < 0 {
		return false
	}
	for _, f := range st.Fields.List {
		ft := types(f.Type)
		if ft == "startstop.State" || holdsState(structs, ft, depth-1) {
			return true
		}
	}
	return false
}

func runsStress(t *testing.T, dir string) bool {
	t.Helper()
	tests, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	require.NoError(t, err)
	for _, f := range tests {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.Contains(string(data), "startstoptest.Stress(") {
			return true
		}
	}
	return false
}
