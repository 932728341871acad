package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/uuid"
)

// A sealed account number opens only with the key that sealed it and only
// for the account it was sealed for, and holds nothing of the number.
func TestAccountNumberSealing(t *testing.T) {
	key := bytes.Repeat([]byte{7}, AccountNumberKeySize)
	numbers, err := newAccountNumbers(key)
	if err != nil {
		t.Fatal(err)
	}
	id, other := uuid.New(), uuid.New()
	const number = "000123456789"
	sealed, err := numbers.seal(id, number)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]byte{sealed.Ciphertext, sealed.WrappedKey, []byte(sealed.KeyID)} {
		if bytes.Contains(part, []byte(number)) || bytes.Contains(part, []byte("6789")) {
			t.Fatalf("the sealed form holds the number's digits: %x", part)
		}
	}
	if got, err := numbers.open(id, *sealed); err != nil || got != number {
		t.Fatalf("open: %q, %v; want %q", got, err, number)
	}
	again, _ := numbers.seal(id, number)
	if bytes.Equal(again.Ciphertext, sealed.Ciphertext) || bytes.Equal(again.WrappedKey, sealed.WrappedKey) {
		t.Fatal("two seals of one number look alike: the data key or the nonce is reused")
	}
	if _, err := numbers.open(other, *sealed); !errors.Is(err, ErrAccountNumberSealed) {
		t.Fatalf("opened for another account: %v", err)
	}
	wrongKey, _ := newAccountNumbers(bytes.Repeat([]byte{8}, AccountNumberKeySize))
	if wrongKey.keyID == numbers.keyID {
		t.Fatal("two keys have one key id")
	}
	if _, err := wrongKey.open(id, *sealed); !errors.Is(err, ErrAccountNumberSealed) {
		t.Fatalf("opened with another key: %v", err)
	}
	// Another key given the first one's id still does not open it.
	wrongKey.keyID = numbers.keyID
	if _, err := wrongKey.open(id, *sealed); !errors.Is(err, ErrAccountNumberSealed) {
		t.Fatalf("opened with another key under the right key id: %v", err)
	}
	tampered := *sealed
	tampered.Ciphertext = bytes.Clone(sealed.Ciphertext)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	if _, err := numbers.open(id, tampered); !errors.Is(err, ErrAccountNumberSealed) {
		t.Fatalf("opened an altered ciphertext: %v", err)
	}
	truncated := *sealed
	truncated.WrappedKey = sealed.WrappedKey[:3]
	if _, err := numbers.open(id, truncated); !errors.Is(err, ErrAccountNumberSealed) {
		t.Fatalf("opened a truncated wrapped key: %v", err)
	}
}

// The digest that stands in for a number is keyed: the same under one key,
// another under another, and never the plain SHA-256 of the number.
func TestAccountNumberDigest(t *testing.T) {
	a := New(Config{AccountNumberKey: bytes.Repeat([]byte{1}, AccountNumberKeySize)})
	b := New(Config{AccountNumberKey: bytes.Repeat([]byte{2}, AccountNumberKeySize)})
	if a.AccountNumberDigest("4321") != a.AccountNumberDigest("4321") {
		t.Fatal("one number, two digests under one key")
	}
	if a.AccountNumberDigest("4321") == a.AccountNumberDigest("4322") || a.AccountNumberDigest("4321") == b.AccountNumberDigest("4321") {
		t.Fatal("the digest does not tell numbers or keys apart")
	}
	plain := sha256.Sum256([]byte("4321"))
	if a.AccountNumberDigest("4321") == hex.EncodeToString(plain[:]) {
		t.Fatal("the digest is an unkeyed hash")
	}
}
