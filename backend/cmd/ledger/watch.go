package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/audit"
)

// runWatch follows the ledger's signed heads as an auditor does: it keeps
// the newest head it has checked in a file, and accepts a new head only
// with a consistency proof from the stored one. A head that does not extend
// the stored one (a rewrite, a truncation, a fork) ends it with exit 1.
func runWatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("audit watch", flag.ContinueOnError)
	flags.SetOutput(stderr)
	store := flags.String("store", "", "the file that keeps the newest head checked (created on the first run)")
	keyFile := flags.String("public-key", "", "a file holding the ledger's note verifier key (name+hash+base64), one a line")
	base := flags.String("url", "http://localhost:8080", "the ledger's base URL")
	once := flags.Bool("once", false, "check the latest head once and exit")
	interval := flags.Duration("interval", time.Minute, "how often to check for a new head")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *store == "" || *keyFile == "" {
		return errors.New("audit watch --store FILE --public-key FILE [--url URL] [--once]: --store and --public-key are required")
	}
	token := getenv("LEDGER_TOKEN")
	if token == "" {
		return errors.New("audit watch: LEDGER_TOKEN is not set: an auditor's bearer token")
	}
	keys, err := readPublicKeys(*keyFile)
	if err != nil {
		return err
	}
	w := watcher{client: &http.Client{Timeout: 30 * time.Second}, base: strings.TrimSuffix(*base, "/"), token: token,
		keys: keys, store: *store, out: stdout}
	for {
		err := w.check(ctx)
		if errors.Is(err, errCheckFailed) || *once {
			return err
		}
		if err != nil {
			fmt.Fprintf(stderr, "audit watch: %v (trying again in %s)\n", err, *interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}

type watcher struct {
	client *http.Client
	base   string
	token  string
	keys   audit.PublicKeys
	store  string
	out    io.Writer
}

// check fetches the latest head and checks it against the stored one.
func (w watcher) check(ctx context.Context) error {
	var latest audit.Head
	if err := w.get(ctx, "/v1/audit/heads/latest", &latest); err != nil {
		return err
	}
	signed, err := w.keys.Open(latest.Note)
	if err != nil {
		return fmt.Errorf("the latest head does not verify with the public key: %v: %w", err, errVerifyFailed)
	}
	signed.Timestamp = latest.Timestamp
	stored, err := readHead(w.store, w.keys)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(w.out, "trusting the first head seen: tree size %d, root %x\n", signed.TreeSize, signed.RootHash[:])
		return w.save(signed)
	}
	if err != nil {
		return err
	}
	if signed.TreeSize > stored.TreeSize {
		var proof struct {
			Hashes []string `json:"hashes"`
		}
		q := url.Values{"from": {strconv.FormatInt(stored.TreeSize, 10)}, "to": {strconv.FormatInt(signed.TreeSize, 10)}}
		if err := w.get(ctx, "/v1/audit/consistency?"+q.Encode(), &proof); err != nil {
			return err
		}
		hashes, err := audit.DecodeHashes(proof.Hashes)
		if err != nil {
			return fmt.Errorf("the consistency proof: %w", err)
		}
		if err := audit.CheckConsistency(stored, signed, hashes); err != nil {
			fmt.Fprintf(w.out, "REWRITTEN: the head of tree size %d does not extend the stored head of size %d: %v\n",
				signed.TreeSize, stored.TreeSize, err)
			return errVerifyFailed
		}
		fmt.Fprintf(w.out, "consistent: tree size %d extends %d\n", signed.TreeSize, stored.TreeSize)
		return w.save(signed)
	}
	if err := audit.CheckConsistency(stored, signed, nil); err != nil {
		if signed.TreeSize < stored.TreeSize {
			fmt.Fprintf(w.out, "REWRITTEN: the latest head has tree size %d, below the stored head's %d: the log was truncated\n",
				signed.TreeSize, stored.TreeSize)
		} else {
			fmt.Fprintf(w.out, "FORKED: two signed heads of tree size %d have different roots (stored %x, now %x)\n",
				signed.TreeSize, stored.RootHash[:], signed.RootHash[:])
		}
		return errVerifyFailed
	}
	fmt.Fprintf(w.out, "unchanged: tree size %d\n", signed.TreeSize)
	return nil
}

// get fetches path as JSON into v.
func (w watcher) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// save replaces the stored head atomically.
func (w watcher) save(h audit.Head) error {
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(w.store), "."+filepath.Base(w.store)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
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
	return os.Rename(tmp.Name(), w.store)
}
