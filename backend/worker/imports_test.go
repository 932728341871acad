package worker_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestWorkerAndMetricsImportNoPostgres keeps the worker a caller of
// package app, as the API is: neither it nor the metrics import a package
// under backend/postgres, directly or through another of the ledger's
// packages. cmd/ledger wires PostgreSQL into them.
func TestWorkerAndMetricsImportNoPostgres(t *testing.T) {
	const module = "github.com/reimbursement-ledger/ledger/"
	for _, root := range []string{module + "backend/worker", module + "backend/metrics"} {
		seen := map[string]string{root: ""}
		queue := []string{root}
		for len(queue) > 0 {
			path := queue[0]
			queue = queue[1:]
			pkg, err := build.Import(path, ".", 0)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, imp := range pkg.Imports {
				if !strings.HasPrefix(imp, module) {
					continue
				}
				if imp == module+"backend/postgres" || strings.HasPrefix(imp, module+"backend/postgres/") {
					t.Errorf("%s imports %s (through %s)", root, imp, chain(seen, path))
				}
				if _, ok := seen[imp]; !ok {
					seen[imp] = path
					queue = append(queue, imp)
				}
			}
		}
	}
}

// chain is the path of imports from the root to path.
func chain(seen map[string]string, path string) string {
	var out []string
	for p := path; p != ""; p = seen[p] {
		out = append([]string{strings.TrimPrefix(p, "github.com/reimbursement-ledger/ledger/")}, out...)
	}
	return strings.Join(out, " -> ")
}
