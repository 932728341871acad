package s3blobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/s3blobs"
)

const bucket = "ledger-receipts-test"

// newStore starts an S3-compatible server (gofakes3, in memory) on a local
// port with one empty bucket, and returns a Store that talks to it over HTTP,
// with the backend to look at what the server holds.
func newStore(t *testing.T, prefix string) (*s3blobs.Store, *s3mem.Backend) {
	store, backend, _ := newStoreClient(t, prefix)
	return store, backend
}

// newStoreClient is newStore, with a second client of the same server to
// ask what the Store does not expose (uploads in progress).
func newStoreClient(t *testing.T, prefix string) (*s3blobs.Store, *s3mem.Backend, *minio.Client) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s3blobs.Config{
		Endpoint:        u.Host, // 127.0.0.1:port: minio-go addresses it path-style
		Bucket:          bucket,
		Region:          "us-east-1",
		AccessKeyID:     "test-key",
		SecretAccessKey: "test-secret",
		Insecure:        true,
		Prefix:          prefix,
	}
	store, err := s3blobs.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Region: cfg.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return store, backend, client
}

func mustRandom(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustReadAll(t *testing.T, store *s3blobs.Store, id uuid.UUID) []byte {
	t.Helper()
	rc, err := store.Open(context.Background(), id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return got
}

func wantNotFound(t *testing.T, store *s3blobs.Store, id uuid.UUID) {
	t.Helper()
	rc, err := store.Open(context.Background(), id)
	if err == nil {
		rc.Close()
		t.Fatalf("Open(%s) found bytes, want %s", id, ledger.ENotFound)
	}
	if code := ledger.ErrorCode(err); code != ledger.ENotFound {
		t.Fatalf("Open(%s) = %v (code %q), want %s", id, err, code, ledger.ENotFound)
	}
}

func TestPutOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"under one part", 300 << 10},
		{"several parts", 12<<20 + 12345}, // 5 MiB parts: two full and a short one
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, backend := newStore(t, "")
			id := uuid.New()
			body := mustRandom(t, tc.size)
			// Only an io.Reader: Put must not learn the size from a *bytes.Reader.
			if err := store.Put(ctx, id, struct{ io.Reader }{bytes.NewReader(body)}); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got := mustReadAll(t, store, id)
			if sha256.Sum256(got) != sha256.Sum256(body) || !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes (sha256 %x), stored %d (sha256 %x)", len(got), sha256.Sum256(got), len(body), sha256.Sum256(body))
			}
			// The key is the default prefix and the id, so operators can find a receipt.
			if _, err := backend.HeadObject(bucket, "receipts/"+id.String()); err != nil {
				t.Fatalf("object receipts/%s on the server: %v", id, err)
			}
		})
	}
}

func TestPutReplaces(t *testing.T) {
	ctx := context.Background()
	store, _ := newStore(t, "")
	id := uuid.New()
	if err := store.Put(ctx, id, strings.NewReader("first")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := store.Put(ctx, id, strings.NewReader("second")); err != nil {
		t.Fatalf("Put again: %v", err)
	}
	if got := string(mustReadAll(t, store, id)); got != "second" {
		t.Fatalf("read %q, want the second body", got)
	}
}

func TestPrefix(t *testing.T) {
	store, backend := newStore(t, "tenant-a/receipts/")
	id := uuid.New()
	if err := store.Put(context.Background(), id, strings.NewReader("pdf")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if _, err := backend.HeadObject(bucket, "tenant-a/receipts/"+id.String()); err != nil {
		t.Fatalf("object under the configured prefix: %v", err)
	}
}

func TestOpenUnknown(t *testing.T) {
	store, _ := newStore(t, "")
	wantNotFound(t, store, uuid.New())
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	store, _ := newStore(t, "")
	id, other := uuid.New(), uuid.New()
	for _, i := range []uuid.UUID{id, other} {
		if err := store.Put(ctx, i, strings.NewReader("receipt "+i.String())); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	if err := store.Delete(ctx, id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, store, id)
	if err := store.Delete(ctx, id); err != nil {
		t.Fatalf("Delete twice: %v, want nil", err)
	}
	if err := store.Delete(ctx, uuid.New()); err != nil {
		t.Fatalf("Delete of an id never stored: %v, want nil", err)
	}
	if got := string(mustReadAll(t, store, other)); got != "receipt "+other.String() {
		t.Fatalf("the other receipt reads %q after the delete", got)
	}
}

// failingReader yields n random bytes, then fails.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestPutReaderFails(t *testing.T) {
	ctx := context.Background()
	broken := errors.New("client went away")
	for _, tc := range []struct {
		name   string
		before int
	}{
		{"at once", 0},
		{"in the first part", 1 << 20},
		{"after a whole part was uploaded", 7 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, _, client := newStoreClient(t, "")
			id := uuid.New()
			r := &failingReader{r: bytes.NewReader(mustRandom(t, tc.before)), err: broken}
			err := store.Put(ctx, id, r)
			if !errors.Is(err, broken) {
				t.Fatalf("Put = %v, want the reader's error", err)
			}
			wantNotFound(t, store, id)
			// The parts already sent are gone too, not left to be billed.
			for u := range client.ListIncompleteUploads(ctx, bucket, "receipts/", true) {
				switch {
				case u.Err != nil && minio.ToErrorResponse(u.Err).Code == "NoSuchUpload":
					// gofakes3's answer for a bucket that never had an upload.
				case u.Err != nil:
					t.Fatalf("listing uploads: %v", u.Err)
				default:
					t.Errorf("upload %s of %s left behind", u.UploadID, u.Key)
				}
			}
		})
	}
}

func TestNewRejectsConfig(t *testing.T) {
	valid := s3blobs.Config{
		Endpoint:        "nyc3.digitaloceanspaces.com",
		Bucket:          "ledger-receipts",
		Region:          "nyc3",
		AccessKeyID:     "key",
		SecretAccessKey: "secret",
	}
	if _, err := s3blobs.New(valid); err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*s3blobs.Config)
		want   string
	}{
		{"no bucket", func(c *s3blobs.Config) { c.Bucket = "" }, "bucket"},
		{"no endpoint", func(c *s3blobs.Config) { c.Endpoint = "" }, "endpoint"},
		{"no region", func(c *s3blobs.Config) { c.Region = "" }, "region"},
		{"no access key", func(c *s3blobs.Config) { c.AccessKeyID = "" }, "access key id"},
		{"no secret", func(c *s3blobs.Config) { c.SecretAccessKey = " " }, "secret access key"},
		{"endpoint is a URL", func(c *s3blobs.Config) { c.Endpoint = "https://nyc3.digitaloceanspaces.com" }, "host[:port]"},
		{"endpoint has a path", func(c *s3blobs.Config) { c.Endpoint = "nyc3.digitaloceanspaces.com/ledger" }, "host[:port]"},
		{"absolute prefix", func(c *s3blobs.Config) { c.Prefix = "/receipts/" }, "prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.change(&cfg)
			store, err := s3blobs.New(cfg)
			if err == nil {
				t.Fatalf("New = %v, want an error", store)
			}
			if ledger.ErrorCode(err) != ledger.EInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %s naming %q", err, ledger.EInvalid, tc.want)
			}
		})
	}
}
