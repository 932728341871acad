// Package achdir keeps the ACH rail's folders: the outbox the ledger
// writes NACHA files into for the ODFI's uploader, and the returns folder
// the ODFI's return files are dropped into. Every write is whole and
// durable (fsynced, then renamed, then the folder fsynced), so a reader
// never sees half a file and a crash never loses one the ledger counted
// as written.
package achdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
)

// stagingDir is the outbox's subfolder files are staged in: a hidden
// folder the uploader does not look in (it takes *.ach files at the
// outbox's top level), on the same file system, so the move into the
// outbox is one rename.
const stagingDir = ".staging"

// The returns folder's subfolders files are moved into once read.
const (
	ProcessedDir = "processed"
	RejectedDir  = "rejected"
)

// Outbox is the folder the ODFI's uploader takes the files from.
type Outbox struct{ dir string }

var _ app.ACHOutbox = (*Outbox)(nil)

// NewOutbox opens (creating when missing) the outbox folder dir.
func NewOutbox(dir string) (*Outbox, error) {
	if dir == "" {
		return nil, errors.New("the ACH outbox folder is required")
	}
	if err := os.MkdirAll(filepath.Join(dir, stagingDir), 0o750); err != nil {
		return nil, err
	}
	return &Outbox{dir: dir}, nil
}

// Stage writes a file whole into the staging folder.
func (o *Outbox) Stage(_ context.Context, name string, content []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	return writeDurably(filepath.Join(o.dir, stagingDir), name, content)
}

// Staged reports whether the staged file is still there.
func (o *Outbox) Staged(_ context.Context, name string) (bool, error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	_, err := os.Stat(filepath.Join(o.dir, stagingDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Publish moves the staged file into the outbox.
func (o *Outbox) Publish(_ context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(o.dir, stagingDir, name), filepath.Join(o.dir, name)); err != nil {
		return err
	}
	if err := syncDir(o.dir); err != nil {
		return err
	}
	return syncDir(filepath.Join(o.dir, stagingDir))
}

// Inbox is the folder the ODFI's return files arrive in.
type Inbox struct {
	dir string
	now func() time.Time
}

var _ app.ACHInbox = (*Inbox)(nil)

// NewInbox opens (creating when missing) the returns folder dir and its
// processed and rejected subfolders.
func NewInbox(dir string) (*Inbox, error) {
	if dir == "" {
		return nil, errors.New("the ACH returns folder is required")
	}
	for _, sub := range []string{ProcessedDir, RejectedDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, err
		}
	}
	return &Inbox{dir: dir, now: time.Now}, nil
}

// List names the regular files at the folder's top level, by name; names
// starting with a dot (a file still being copied in, by convention) wait.
func (in *Inbox) List(context.Context) ([]string, error) {
	entries, err := os.ReadDir(in.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// maxReturnFile bounds what Read reads: one byte more than the ledger
// accepts, so that a larger file is seen as too large.
const maxReturnFile = 64<<20 + 1

// Read returns a file's content, at most 64 MiB and one byte.
func (in *Inbox) Read(_ context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(in.dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxReturnFile))
}

// Done moves a file into processed or rejected. A file of the same name
// there already is kept: the newcomer's name gets the time it was moved.
func (in *Inbox) Done(_ context.Context, name string, rejected bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	sub := ProcessedDir
	if rejected {
		sub = RejectedDir
	}
	target := filepath.Join(in.dir, sub, name)
	if _, err := os.Lstat(target); err == nil {
		target = filepath.Join(in.dir, sub, in.now().UTC().Format("20060102T150405.000000000Z")+"-"+name)
	}
	if err := os.Rename(filepath.Join(in.dir, name), target); err != nil {
		return err
	}
	if err := syncDir(filepath.Join(in.dir, sub)); err != nil {
		return err
	}
	return syncDir(in.dir)
}

// checkName refuses a name that is not one plain file name.
func checkName(name string) error {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return fmt.Errorf("achdir: %q is not a file name", name)
	}
	return nil
}

// writeDurably writes dir/name whole: into a temporary file, fsynced,
// renamed over dir/name, then dir fsynced.
func writeDurably(dir, name string, content []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
