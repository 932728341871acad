// Package postgrestest gives each test a fresh, migrated PostgreSQL database,
// a small directory in it, and a way to wait for the subscribers.
//
// Tests find the server through LEDGER_TEST_DATABASE_URL, a URL whose user
// may create databases (`go tool task test` sets it). A test that cannot
// reach it fails: it never skips.
package postgrestest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/postgres"
)

// EnvURL names the variable holding the test server's URL.
const EnvURL = "LEDGER_TEST_DATABASE_URL"

// NewDB creates a database for this test only, migrated to the latest
// schema, and drops it when the test ends.
func NewDB(t testing.TB) *postgres.DB {
	t.Helper()
	return NewDBWith(t, postgres.Options{})
}

// NewDBWith is NewDB with options (a fixed clock, a pool size).
func NewDBWith(t testing.TB, opts postgres.Options) *postgres.DB {
	t.Helper()
	dbURL := NewDatabaseURL(t)
	db, err := postgres.Open(context.Background(), dbURL, opts)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// NewDatabaseURL creates a fresh migrated database and returns its URL.
func NewDatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Fatalf("%s is not set: run the tests with `go tool task test`, which finds or starts PostgreSQL", EnvURL)
	}
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("open %s: %v", EnvURL, err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	template := ensureTemplate(t, ctx, admin, base)
	name := "ledger_test_" + randomHex(t, 8)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %q TEMPLATE %q`, name, template)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("postgres", base)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(t, base, name)
}

// ensureTemplate migrates a template database once per schema version; every
// test database is a fast file copy of it. An advisory lock keeps test
// processes of different packages from building it twice.
func ensureTemplate(t testing.TB, ctx context.Context, admin *sql.DB, base string) string {
	t.Helper()
	sum := schemaHash(t)
	name := "ledger_template_" + sum[:16]
	conn, err := admin.Conn(ctx)
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	defer conn.Close()
	lockKey := int64(binary.BigEndian.Uint64([]byte(sum[:8])))
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		t.Fatalf("lock template: %v", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey)

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("look up template: %v", err)
	}
	if exists {
		return name
	}
	building := name + "_building"
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, building)); err != nil {
		t.Fatalf("drop half-built template: %v", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %q`, building)); err != nil {
		t.Fatalf("create template: %v", err)
	}
	db, err := postgres.Open(ctx, withDatabase(t, base, building), postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatalf("open template: %v", err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		t.Fatalf("migrate template: %v", err)
	}
	db.Close()
	// Renaming last means a template that exists is always complete.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %q RENAME TO %q`, building, name)); err != nil {
		t.Fatalf("finish template: %v", err)
	}
	return name
}

func schemaHash(t testing.TB) string {
	t.Helper()
	h := sha256.New()
	err := fs.WalkDir(postgres.Migrations(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(postgres.Migrations(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%s\x00", path, b)
		return nil
	})
	if err != nil {
		t.Fatalf("hash migrations: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func withDatabase(t testing.TB, base, name string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Eventually polls cond until it holds, for what the subscribers do in the
// background. The limit is generous: the checks are not timed.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
