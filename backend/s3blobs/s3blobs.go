// Package s3blobs stores receipts' bytes in an S3-compatible bucket
// (DigitalOcean Spaces in staging and prod), outside the event log.
package s3blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// DefaultPrefix is the key prefix when Config.Prefix is empty.
const DefaultPrefix = "receipts/"

// partSize is the size of each part of a multipart upload, and so the most
// a Put holds in memory: S3's smallest part (except the last) is 5 MiB.
const partSize = 5 << 20

// Config says which bucket to use and how to reach it.
type Config struct {
	// Endpoint is host[:port], without a scheme: nyc3.digitaloceanspaces.com.
	Endpoint string
	Bucket   string
	Region   string
	// AccessKeyID and SecretAccessKey are the bucket's access key.
	AccessKeyID     string
	SecretAccessKey string
	// Insecure talks plain HTTP, for a local server.
	Insecure bool
	// Prefix starts every key; DefaultPrefix when empty.
	Prefix string
}

// Store keeps each receipt's bytes in one object, named Prefix + id.
type Store struct {
	client *minio.Client
	bucket string
	prefix string
}

var _ app.ReceiptBlobs = (*Store)(nil)

// New checks cfg and returns a Store for its bucket. It does not contact the
// server: a wrong key or a missing bucket shows on the first call.
func New(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure: !cfg.Insecure,
		// A known region spares a GetBucketLocation call before the first request.
		Region: cfg.Region,
	})
	if err != nil {
		return nil, ledger.Errorf(ledger.EInvalid, "s3 receipt store: %v", err)
	}
	return &Store{client: client, bucket: cfg.Bucket, prefix: prefix}, nil
}

func (cfg Config) validate() error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"endpoint", cfg.Endpoint},
		{"bucket", cfg.Bucket},
		{"region", cfg.Region},
		{"access key id", cfg.AccessKeyID},
		{"secret access key", cfg.SecretAccessKey},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return ledger.Errorf(ledger.EInvalid, "s3 receipt store: missing %s", strings.Join(missing, ", "))
	}
	// minio.New takes a bare host; a URL here is a common slip worth naming.
	if u, err := url.Parse("//" + cfg.Endpoint); err != nil || u.Host != cfg.Endpoint || strings.Contains(cfg.Endpoint, "://") {
		return ledger.Errorf(ledger.EInvalid, "s3 receipt store: endpoint %q must be host[:port], without scheme or path", cfg.Endpoint)
	}
	if strings.HasPrefix(cfg.Prefix, "/") {
		return ledger.Errorf(ledger.EInvalid, "s3 receipt store: prefix %q must not start with /", cfg.Prefix)
	}
	return nil
}

func (s *Store) key(id uuid.UUID) string { return s.prefix + id.String() }

// Put stores everything read from r under id, replacing what was there. It
// uploads in parts of partSize, so it holds at most one part in memory. When
// r or the upload fails, the upload is aborted and nothing new is stored (if
// ctx is already cancelled the abort cannot be sent: the bucket's lifecycle
// rule removes the stray parts).
func (s *Store) Put(ctx context.Context, id uuid.UUID, r io.Reader) error {
	opts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    partSize,
		// Over plain HTTP (a local server) minio-go would sign the body in
		// aws-chunked encoding, which some S3-compatible servers store
		// verbatim; over HTTPS it sends the plain body, and so does this.
		DisableContentSha256: true,
	}
	// A multipart upload of nothing would send one empty part, which not
	// every S3-compatible server takes: an empty body is a plain empty PUT.
	var first [1]byte
	n, err := io.ReadFull(r, first[:])
	switch {
	case err == io.EOF:
		_, err = s.client.PutObject(ctx, s.bucket, s.key(id), bytes.NewReader(nil), 0, opts)
	case err != nil:
		err = fmt.Errorf("reading: %w", err)
	default:
		_, err = s.client.PutObject(ctx, s.bucket, s.key(id), io.MultiReader(bytes.NewReader(first[:n]), r), -1, opts)
	}
	if err != nil {
		return fmt.Errorf("s3 receipt store: put %s: %w", id, err)
	}
	return nil
}

// Open returns a reader of the bytes stored under id, or a *ledger.Error with
// ENotFound when there are none. The caller closes the reader.
func (s *Store) Open(ctx context.Context, id uuid.UUID) (io.ReadCloser, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(id), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3 receipt store: open %s: %w", id, err)
	}
	// GetObject sends nothing until the first read: Stat asks now, so a
	// missing object is an error here and not in the middle of a response.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		if isNotFound(err) {
			return nil, ledger.Errorf(ledger.ENotFound, "receipt %s has no stored file", id)
		}
		return nil, fmt.Errorf("s3 receipt store: open %s: %w", id, err)
	}
	return obj, nil
}

// Delete removes the bytes stored under id; none stored is not an error.
// In a versioned bucket it adds a delete marker: earlier versions remain
// until the bucket's lifecycle rule expires them.
func (s *Store) Delete(ctx context.Context, id uuid.UUID) error {
	err := s.client.RemoveObject(ctx, s.bucket, s.key(id), minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("s3 receipt store: delete %s: %w", id, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	return resp.Code == minio.NoSuchKey
}
