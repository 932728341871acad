package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Signed tree heads: every event, in commit order, is a leaf of an RFC 9162
// Merkle tree whose leaf input is the event's chain hash. After each batch
// of events the ledger signs the tree's head (its size and root hash) as a
// C2SP tlog-checkpoint: a signed note (golang.org/x/mod/sumdb/note) whose
// text is
//
//	<origin>
//	<tree size>
//	<base64 root hash>
//
// The origin is the signing key's name. Anyone holding the public key can
// check a head, an inclusion proof against it and the consistency of two
// heads; nobody without the private key can make one.

// Algorithm names the signature scheme of heads.
const Algorithm = "Ed25519"

// LeafHash is an event's leaf in the tree: SHA-256(0x00 || chain hash).
func LeafHash(eventHash []byte) tlog.Hash { return tlog.RecordHash(eventHash) }

// Head is a signed tree head.
type Head struct {
	TreeSize int64
	RootHash tlog.Hash
	// Timestamp is when the ledger signed the head. The signature does not
	// cover it: it tells when, the note proves what.
	Timestamp time.Time
	// Note is the signed note, as signed.
	Note []byte
}

// Body is a checkpoint's note text.
func Body(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// ErrMalformedHead is returned for a note text that is no checkpoint.
var ErrMalformedHead = errors.New("malformed checkpoint")

// parseBody reads a checkpoint's note text: origin, decimal size without
// leading zeroes, base64 root; extension lines are allowed and ignored.
func parseBody(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return "", 0, root, fmt.Errorf("%w: want an origin, a size and a root hash, one a line", ErrMalformedHead)
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, root, fmt.Errorf("%w: tree size %q", ErrMalformedHead, lines[1])
	}
	b, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(b) != len(root) {
		return "", 0, root, fmt.Errorf("%w: root hash %q", ErrMalformedHead, lines[2])
	}
	copy(root[:], b)
	for _, ext := range strings.Split(strings.TrimSuffix(lines[3], "\n"), "\n") {
		if ext == "" && lines[3] != "" {
			return "", 0, root, fmt.Errorf("%w: an empty extension line", ErrMalformedHead)
		}
	}
	return lines[0], size, root, nil
}

// Signer signs tree heads with the ledger's private key (AUDIT_SIGNING_KEY).
type Signer struct {
	signer note.Signer
	public PublicKey
}

// NewSigner reads a signer key as `ledger audit keygen` prints it:
// PRIVATE+KEY+<name>+<hash>+<base64>.
func NewSigner(skey string) (*Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("AUDIT_SIGNING_KEY: %w (want the PRIVATE+KEY+... line of `ledger audit keygen`)", err)
	}
	// The key's last field is the algorithm byte and the Ed25519 seed; the
	// public key is derived from the seed. NewSigner checked the form and
	// that the key hash matches the derived public key.
	// (PRIVATE+KEY+name+hash+key: the name holds no "+", the base64 may.)
	raw, _ := base64.StdEncoding.DecodeString(strings.SplitN(strings.TrimSpace(skey), "+", 5)[4])
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, err
	}
	public, err := NewPublicKey(vkey)
	if err != nil {
		return nil, err
	}
	return &Signer{signer: s, public: public}, nil
}

// PublicKey returns the key that checks this signer's heads.
func (s *Signer) PublicKey() PublicKey { return s.public }

// Sign signs the head of the tree of size with root, at now.
func (s *Signer) Sign(size int64, root tlog.Hash, now time.Time) (Head, error) {
	msg, err := note.Sign(&note.Note{Text: Body(s.signer.Name(), size, root)}, s.signer)
	if err != nil {
		return Head{}, fmt.Errorf("sign the tree head: %w", err)
	}
	return Head{TreeSize: size, RootHash: root, Timestamp: now.UTC(), Note: msg}, nil
}

// GenerateKey makes a new key pair named name: the signer key for
// AUDIT_SIGNING_KEY and its note verifier key for auditors.
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// PublicKey checks heads: a note verifier key, name+hash+base64.
type PublicKey struct {
	// Name is the key's name, which is also the origin of its heads.
	Name string
	// Key is the raw Ed25519 public key.
	Key ed25519.PublicKey
	// NoteKey is the note verifier key, <name>+<hash>+<base64>.
	NoteKey  string
	verifier note.Verifier
}

// NewPublicKey reads a note verifier key.
func NewPublicKey(vkey string) (PublicKey, error) {
	vkey = strings.TrimSpace(vkey)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %q: %w (want <name>+<hash>+<base64>, as GET /v1/audit/public-key gives note_verifier_key)", vkey, err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.SplitN(vkey, "+", 3)[2]) // name+hash+key
	if err != nil || len(raw) != 1+ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("public key %q: not an Ed25519 key", vkey)
	}
	return PublicKey{Name: v.Name(), Key: ed25519.PublicKey(raw[1:]), NoteKey: vkey, verifier: v}, nil
}

// PublicKeys are the keys a head may be signed with: the current one first,
// then retired ones (a rotated key keeps its name and gets a new hash).
type PublicKeys []PublicKey

// ParsePublicKeys reads note verifier keys separated by white space or
// commas, one a line in a file.
func ParsePublicKeys(text string) (PublicKeys, error) {
	var keys PublicKeys
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		k, err := NewPublicKey(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key given")
	}
	return keys, nil
}

// ErrHeadSignature is returned for a head no known key signed.
var ErrHeadSignature = errors.New("the head is not signed by a known key")

// Open checks a signed head against the keys and returns it. The note must
// carry a valid signature by one of them, and its origin must be that
// key's name.
func (ks PublicKeys) Open(msg []byte) (Head, error) {
	verifiers := make([]note.Verifier, len(ks))
	for i, k := range ks {
		verifiers[i] = k.verifier
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return Head{}, fmt.Errorf("%w: %v", ErrHeadSignature, err)
		}
		return Head{}, fmt.Errorf("%w: %v", ErrMalformedHead, err)
	}
	origin, size, root, err := parseBody(n.Text)
	if err != nil {
		return Head{}, err
	}
	for _, sig := range n.Sigs {
		if sig.Name == origin {
			return Head{TreeSize: size, RootHash: root, Note: msg}, nil
		}
	}
	return Head{}, fmt.Errorf("%w: the origin %q is signed by no key of that name", ErrHeadSignature, origin)
}

// SameHead reports whether two heads state the same tree.
func SameHead(a, b Head) bool {
	return a.TreeSize == b.TreeSize && bytes.Equal(a.RootHash[:], b.RootHash[:])
}

// headJSON is the one JSON form of a head: in API answers, exported files
// and a watcher's store.
type headJSON struct {
	TreeSize  int64     `json:"tree_size"`
	RootHash  string    `json:"root_hash"`
	Timestamp time.Time `json:"timestamp"`
	Note      string    `json:"note"`
}

// MarshalJSON writes the root hash in base64 and the note as text.
func (h Head) MarshalJSON() ([]byte, error) {
	return json.Marshal(headJSON{TreeSize: h.TreeSize, RootHash: base64.StdEncoding.EncodeToString(h.RootHash[:]),
		Timestamp: h.Timestamp, Note: string(h.Note)})
}

// UnmarshalJSON reads what MarshalJSON writes. It checks the form only:
// PublicKeys.Open checks the signature.
func (h *Head) UnmarshalJSON(b []byte) error {
	var j headJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	root, err := base64.StdEncoding.Strict().DecodeString(j.RootHash)
	if err != nil || len(root) != len(h.RootHash) {
		return fmt.Errorf("%w: root_hash %q", ErrMalformedHead, j.RootHash)
	}
	*h = Head{TreeSize: j.TreeSize, Timestamp: j.Timestamp, Note: []byte(j.Note)}
	copy(h.RootHash[:], root)
	return nil
}
