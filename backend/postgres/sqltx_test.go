package postgres_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoExportedFunctionTakesASQLTx keeps the transactions inside the
// package: its callers get stores bound to one (app.Tx), never a raw
// *sql.Tx. It reads every package under backend/postgres and fails on an
// exported function, method or interface method with a *sql.Tx among its
// parameters, a function-typed parameter's included.
func TestNoExportedFunctionTakesASQLTx(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		sqlName := ""
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "database/sql" {
				sqlName = "sql"
				if imp.Name != nil {
					sqlName = imp.Name.Name
				}
			}
		}
		if sqlName == "" {
			return nil
		}
		check := func(name string, params *ast.FieldList) {
			if params != nil && takesTx(params, sqlName) {
				t.Errorf("%s: %s takes a *sql.Tx; take the stores bound to it (app.Tx) or unexport it", fset.Position(params.Pos()), name)
			}
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Name.IsExported() {
					check(decl.Name.Name, decl.Type.Params)
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					if it, ok := ts.Type.(*ast.InterfaceType); ok {
						for _, m := range it.Methods.List {
							if ft, ok := m.Type.(*ast.FuncType); ok && len(m.Names) > 0 && m.Names[0].IsExported() {
								check(ts.Name.Name+"."+m.Names[0].Name, ft.Params)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// takesTx reports whether a parameter list holds a *sql.Tx, directly or in
// a function-typed parameter's own parameters.
func takesTx(params *ast.FieldList, sqlName string) bool {
	found := false
	for _, p := range params.List {
		ast.Inspect(p.Type, func(n ast.Node) bool {
			if star, ok := n.(*ast.StarExpr); ok {
				if sel, ok := star.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Tx" {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == sqlName {
						found = true
					}
				}
			}
			return !found
		})
	}
	return found
}
