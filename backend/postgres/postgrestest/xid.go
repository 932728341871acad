package postgrestest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/postgres"
)

// XIDBoundaries are the transaction ids AcrossXIDBoundaries makes a test's
// writes cross: where the decimal text of an id grows a digit (text
// compared, "1000" sorts before "999"), and 2^32, where the 32-bit id
// wraps and the xid8 epoch turns over.
var XIDBoundaries = []uint64{1_000, 100_000, 1 << 32}

// XIDMargin is how far below its boundary a private cluster's next
// transaction id starts. A test run by AcrossXIDBoundaries writes more
// transactions than this.
const XIDMargin = 30

// AcrossXIDBoundaries runs fn once per boundary of XIDBoundaries, as a
// subtest, on a fresh migrated ledger database of a private cluster whose
// next transaction id is XIDMargin below the boundary. After fn it checks
// that the stored events span the boundary (some below it, some at or
// above), and fails the subtest when fn did not write enough transactions
// to cross it.
func AcrossXIDBoundaries(t *testing.T, fn func(t *testing.T, db *postgres.DB)) {
	t.Helper()
	AcrossXIDBoundariesURL(t, func(t *testing.T, dbURL string) {
		db, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
		if err != nil {
			t.Fatalf("open test database: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db)
	})
}

// AcrossXIDBoundariesURL is AcrossXIDBoundaries for a test that opens the
// database itself (a test of serve): fn gets the database's URL.
func AcrossXIDBoundariesURL(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Helper()
	for _, boundary := range XIDBoundaries {
		t.Run("xid "+strconv.FormatUint(boundary, 10), func(t *testing.T) {
			dbURL := NewDatabaseURLBelowXID(t, boundary)
			fn(t, dbURL)
			if !t.Failed() {
				mustSpan(t, dbURL, boundary)
			}
		})
	}
}

// mustSpan fails t unless the events stored at dbURL were written by
// transactions on both sides of boundary.
func mustSpan(t *testing.T, dbURL string, boundary uint64) {
	t.Helper()
	conn, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var below, above int64
	var lowest, highest sql.NullString
	err = conn.QueryRow(`SELECT count(*) FILTER (WHERE transaction_id < $1::xid8), count(*) FILTER (WHERE transaction_id >= $1::xid8),
			min(transaction_id)::text, max(transaction_id)::text
		FROM events`, strconv.FormatUint(boundary, 10)).Scan(&below, &above, &lowest, &highest)
	if err != nil {
		t.Fatalf("read the events' transaction ids: %v", err)
	}
	if below+above == 0 {
		t.Fatalf("no events stored: the test must append in more than %d transactions of its own to cross transaction id %d", XIDMargin, boundary)
	}
	if below == 0 || above == 0 {
		t.Fatalf("the events do not span transaction id %d: %d below it, %d at or above it (transaction ids %s to %s); "+
			"the test must append in more than %d transactions of its own to cross it", boundary, below, above,
			lowest.String, highest.String, XIDMargin)
	}
}

// NewDatabaseURLBelowXID starts a private PostgreSQL cluster for this test
// only, whose next transaction id is XIDMargin below boundary, and returns
// the URL of a migrated ledger database in it. The cluster listens on a
// unix socket only, and is stopped and removed when the test ends.
//
// Each cluster is a copy of a base data directory built once per schema
// (and shared by the test processes of every package through a file
// lock): initialised, migrated, frozen and stopped. The copy's next
// transaction id is then set with pg_resetwal. Freezing first makes every
// row visible whatever the new id: without it, rows written by ids that
// now lie "in the future" (across the 2^32 wrap) would vanish.
func NewDatabaseURLBelowXID(t testing.TB, boundary uint64) string {
	t.Helper()
	pg := findPostgres(t)
	base, next := ensureBaseCluster(t, pg)
	target := boundary - XIDMargin
	if target <= next {
		t.Fatalf("transaction id %d: the base cluster has used ids up to %d already", target, next)
	}
	sweepClusters()
	// A short path: a socket's is at most 107 bytes.
	dir, err := os.MkdirTemp("/tmp", clusterPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg.chown(t, dir)
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-a", base, data).CombinedOutput(); err != nil {
		t.Fatalf("copy the base cluster: %v: %s", err, out)
	}
	pg.run(t, "pg_resetwal", "-x", strconv.FormatUint(target%(1<<32), 10), "-e", strconv.FormatUint(target>>32, 10), "-D", data)
	pg.ensureXactPage(t, data, target)
	pg.start(t, dir, data)
	if target-next >= 1<<31 {
		moveFrozenXIDs(t, dir, target)
	}
	return socketURL(dir, baseDatabase)
}

// moveFrozenXIDs sets every table's and database's oldest unfrozen
// transaction id to target, the cluster's next one. The jump of pg_resetwal
// past 2^31 ids leaves them behind, where 32-bit comparisons take them for
// ids of the future: a VACUUM would then refuse every row written since
// ("found xmin ... from before relfrozenxid"). Every row of the base is
// frozen, so target is true of them all. A cluster that really aged has
// vacuumed its way there.
func moveFrozenXIDs(t testing.TB, dir string, target uint64) {
	t.Helper()
	xid := strconv.FormatUint(target%(1<<32), 10)
	for _, name := range []string{"template1", "postgres", baseDatabase} {
		conn, err := sql.Open("postgres", socketURL(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		stmt := `UPDATE pg_class SET relfrozenxid = $1::text::xid WHERE relfrozenxid <> '0'::xid`
		if name == baseDatabase {
			stmt = `WITH d AS (UPDATE pg_database SET datfrozenxid = $1::text::xid) ` + stmt
		}
		_, err = conn.Exec(stmt, xid)
		conn.Close()
		if err != nil {
			t.Fatalf("move the frozen transaction ids of %s: %v", name, err)
		}
	}
}

// clusterPrefix starts the name of a private cluster's directory, followed
// by the test process's id.
const clusterPrefix = "lxid-"

// sweepClusters removes the directories of clusters whose test process is
// gone without its cleanups (killed, or a timeout's panic); their servers
// stopped with it.
func sweepClusters() {
	dirs, _ := filepath.Glob(filepath.Join("/tmp", clusterPrefix+"*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), clusterPrefix), "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if _, err := os.Stat(filepath.Join(d, "data", "postmaster.pid")); err == nil {
				time.Sleep(time.Second) // its server is on its way out
			}
			os.RemoveAll(d)
		}
	}
}

// baseDatabase is the ledger database of every private cluster.
const baseDatabase = "ledger"

func socketURL(dir, database string) string {
	q := url.Values{"host": {dir}, "port": {"5432"}, "sslmode": {"disable"}}
	return "postgres://postgres@/" + database + "?" + q.Encode()
}

// pgTools finds the PostgreSQL server binaries and whom to run them as.
type pgTools struct {
	bin string
	// as is the account the server runs as when the tests run as root
	// (initdb refuses root); nil otherwise.
	as *syscall.Credential
}

var neededTools = []string{"initdb", "postgres", "pg_resetwal"}

// findPostgres looks for the server binaries next to initdb on PATH, then
// in the newest /usr/lib/postgresql/*/bin. Missing binaries fail the test:
// it never skips.
func findPostgres(t testing.TB) pgTools {
	t.Helper()
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versions, func(a, b string) int { return versionOf(b) - versionOf(a) })
	dirs = append(dirs, versions...)
	var pg pgTools
	for _, d := range dirs {
		if hasAll(d, neededTools) {
			pg.bin = d
			break
		}
	}
	if pg.bin == "" {
		t.Fatalf("the transaction id tests start private PostgreSQL clusters and need %s: found none together on PATH or in /usr/lib/postgresql/*/bin; "+
			"install the PostgreSQL server (Debian: apt-get install postgresql-15)", strings.Join(neededTools, ", "))
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the private clusters run as the user postgres, which does not exist: %v (useradd --system postgres)", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		pg.as = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return pg
}

func versionOf(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

func hasAll(dir string, names []string) bool {
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

func (pg pgTools) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(pg.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if pg.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.as}
	}
	return cmd
}

func (pg pgTools) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := pg.command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// chown gives the server's account what it must write.
func (pg pgTools) chown(t testing.TB, path string) {
	t.Helper()
	if pg.as == nil {
		return
	}
	if err := os.Chown(path, int(pg.as.Uid), int(pg.as.Gid)); err != nil {
		t.Fatal(err)
	}
}

// ensureXactPage makes room in pg_xact for the commit status of xid. The
// server creates a commit-log page only when an id is the first of its
// page, and would fail to read the page of an id set by pg_resetwal in the
// middle of one; zeros are the status of ids never used.
func (pg pgTools) ensureXactPage(t testing.TB, data string, xid uint64) {
	t.Helper()
	const segment = 32 * 8192 // 32 pages of 32,768 ids
	xid32 := xid % (1 << 32)
	name := filepath.Join(data, "pg_xact", fmt.Sprintf("%04X", xid32/(segment*4)))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		t.Fatal(err)
	} else if fi.Size() < segment {
		if err := f.Truncate(segment); err != nil {
			t.Fatal(err)
		}
	}
	pg.chown(t, name)
}

// start runs the server of data in the foreground of a child process,
// listening on a socket in dir only, and stops it when the test ends. The
// child gets SIGQUIT (an immediate shutdown) if the test process dies
// first, so no server outlives `go test`, even after a timeout's panic.
func (pg pgTools) start(t testing.TB, dir, data string) {
	t.Helper()
	stop, err := pg.startServer(dir, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(syscall.SIGQUIT); err != nil {
			t.Errorf("stop the private cluster in %s: %v", dir, err)
		}
	})
}

// startServer starts the server; stop sends it sig (SIGQUIT: immediate,
// SIGINT: fast and clean) and waits for it to exit.
func (pg pgTools) startServer(dir, data string) (stop func(sig syscall.Signal) error, err error) {
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := pg.command("postgres", "-D", data, "-c", "listen_addresses=", "-c", "unix_socket_directories="+dir, "-c", "port=5432",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "autovacuum=off")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	// The parent-death signal follows the thread that started the child:
	// that thread stays alive, locked to its goroutine, until the server
	// has exited.
	started, exited := make(chan error), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	stop = func(sig syscall.Signal) error {
		select {
		case <-exited:
			return nil
		default:
		}
		cmd.Process.Signal(sig)
		select {
		case <-exited:
			return nil
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			return fmt.Errorf("postgres did not stop in 60 s after %v; killed", sig)
		}
	}
	admin := socketURL(dir, "postgres")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ping(admin)
		if err == nil {
			return stop, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return nil, fmt.Errorf("postgres exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			stop(syscall.SIGQUIT)
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return nil, fmt.Errorf("postgres did not answer in 30 s: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ping(dbURL string) error {
	conn, err := sql.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return conn.PingContext(ctx)
}

// ensureBaseCluster returns the base data directory for the current
// schema, building it when no test process has: initdb, the ledger
// database migrated, every database frozen, the server stopped cleanly.
// A file lock keeps concurrent test processes from building it twice;
// renaming last means a base that exists is complete.
// It also returns the base's next transaction id.
func ensureBaseCluster(t testing.TB, pg pgTools) (base string, next uint64) {
	t.Helper()
	root := filepath.Join(os.TempDir(), "ledger-xid-clusters")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	pg.chown(t, root)
	key := schemaHash(t)[:16] + "-pg" + strconv.Itoa(versionOf(filepath.Join(pg.bin, "initdb")))
	base = filepath.Join(root, "base-"+key)
	lock, err := os.OpenFile(filepath.Join(root, "lock"), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	nextFile := filepath.Join(root, "next-xid-"+key)
	if b, err := os.ReadFile(nextFile); err == nil {
		if next, err := strconv.ParseUint(string(b), 10, 64); err == nil {
			if _, err := os.Stat(filepath.Join(base, "PG_VERSION")); err == nil {
				return base, next
			}
		}
	}

	dir, err := os.MkdirTemp("/tmp", clusterPrefix+strconv.Itoa(os.Getpid())+"-base")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	pg.chown(t, dir)
	data := filepath.Join(dir, "data")
	pg.run(t, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	stop, err := pg.startServer(dir, data)
	if err != nil {
		t.Fatal(err)
	}
	defer stop(syscall.SIGQUIT)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := sql.Open("postgres", socketURL(dir, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+baseDatabase); err != nil {
		t.Fatalf("create the base cluster's database: %v", err)
	}
	db, err := postgres.Open(ctx, socketURL(dir, baseDatabase), postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatalf("open the base cluster's database: %v", err)
	}
	err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		t.Fatalf("migrate the base cluster's database: %v", err)
	}
	for _, name := range []string{"template1", "postgres", baseDatabase} {
		conn, err := sql.Open("postgres", socketURL(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.ExecContext(ctx, `VACUUM FREEZE`)
		conn.Close()
		if err != nil {
			t.Fatalf("freeze %s: %v", name, err)
		}
	}
	if err := admin.QueryRowContext(ctx, `SELECT pg_current_xact_id()::text::bigint + 1`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	// A clean shutdown (SIGINT: fast) leaves a checkpoint pg_resetwal can
	// start from.
	if err := stop(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	building := base + ".building"
	os.RemoveAll(building)
	if out, err := exec.Command("cp", "-a", data, building).CombinedOutput(); err != nil {
		t.Fatalf("keep the base cluster: %v: %s", err, out)
	}
	os.RemoveAll(base)
	if err := os.Rename(building, base); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nextFile, []byte(strconv.FormatUint(next, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	return base, next
}

// SpendXIDsUntilBoundary spends transaction ids of db's cluster, writing
// nothing, until the next one to be assigned is left below the nearest
// boundary of XIDBoundaries above it. A test that writes only a few
// transactions then crosses the boundary with its own: run under
// AcrossXIDBoundaries, its interleavings happen right at the boundary.
func SpendXIDsUntilBoundary(t testing.TB, db *postgres.DB, left uint64) {
	t.Helper()
	ctx := context.Background()
	nextXID := func() uint64 {
		t.Helper()
		var next uint64
		if err := db.SQL().QueryRowContext(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&next); err != nil {
			t.Fatal(err)
		}
		return next
	}
	next := nextXID()
	i := slices.IndexFunc(XIDBoundaries, func(b uint64) bool { return b > next })
	if i < 0 || XIDBoundaries[i]-left < next {
		t.Fatalf("next transaction id %d: no boundary of %v lies %d or more above it", next, XIDBoundaries, left)
	}
	target := XIDBoundaries[i] - left
	for next < target {
		// Each iteration's transaction takes an id and commits.
		_, err := db.SQL().ExecContext(ctx, fmt.Sprintf(`DO $$ BEGIN FOR i IN 1..%d LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`, target-next))
		if err != nil {
			t.Fatalf("spend transaction ids: %v", err)
		}
		next = nextXID()
	}
	if next != target {
		t.Fatalf("spent transaction ids up to %d, want %d", next, target)
	}
}
