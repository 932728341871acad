package app

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Account numbers are kept with envelope encryption: each account's number
// is sealed with AES-256-GCM under a random data key of its own, bound to
// the account's id as additional data, and the data key is sealed
// (wrapped) under a key derived from the deployment's account number key
// (ACCOUNT_NUMBER_KEY). The stored row names the key that wrapped it (its
// key id), so a rotation can tell which rows still need rewrapping. Only
// AccountNumber opens a number, for the payment rail; no answer, list,
// event or log holds it.

// AccountNumberKeySize is the length of the account number key: 32 bytes.
const AccountNumberKeySize = 32

// ParseAccountNumberKey reads an account number key as configured: 32
// bytes in base64, as ParsePositionKey does.
func ParseAccountNumberKey(s string) ([]byte, error) { return ParsePositionKey(s) }

// ErrAccountNumberSealed: a sealed account number does not open with this
// ledger's key for this account (another key, or a row copied onto another
// account).
var ErrAccountNumberSealed = errors.New("the account number does not open with this key for this account")

// accountNumbers seals and opens account numbers.
type accountNumbers struct {
	wrap    cipher.AEAD // wraps data keys
	keyID   string
	hashKey []byte // keys AccountNumberDigest
}

// newAccountNumbers returns the sealer of key, a random key when key is
// empty (numbers then open only in this process: for tests and a
// development ledger).
func newAccountNumbers(key []byte) (accountNumbers, error) {
	if len(key) == 0 {
		key = make([]byte, AccountNumberKeySize)
		if _, err := rand.Read(key); err != nil {
			return accountNumbers{}, err
		}
	}
	if len(key) != AccountNumberKeySize {
		return accountNumbers{}, fmt.Errorf("the account number key has %d bytes, want %d", len(key), AccountNumberKeySize)
	}
	kek, err := hkdf.Key(sha256.New, key, nil, "ledger account number key wrapping v1", 32)
	if err != nil {
		return accountNumbers{}, err
	}
	id, err := hkdf.Key(sha256.New, key, nil, "ledger account number key id v1", 8)
	if err != nil {
		return accountNumbers{}, err
	}
	hashKey, err := hkdf.Key(sha256.New, key, nil, "ledger account number digest v1", 32)
	if err != nil {
		return accountNumbers{}, err
	}
	aead, err := newGCM(kek)
	if err != nil {
		return accountNumbers{}, err
	}
	return accountNumbers{wrap: aead, keyID: hex.EncodeToString(id), hashKey: hashKey}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additionalData binds a sealed number (and its wrapped key) to its account.
func accountNumberAD(accountID uuid.UUID) []byte {
	return append([]byte("ledger account number v1 "), accountID[:]...)
}

// seal encrypts number for the account accountID.
func (n accountNumbers) seal(accountID uuid.UUID, number string) (*ledger.SealedAccountNumber, error) {
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, err
	}
	aead, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	ad := accountNumberAD(accountID)
	nc := nonce(aead)
	ciphertext := aead.Seal(nc, nc, []byte(number), ad) // nonce || sealed number
	nw := nonce(n.wrap)
	wrapped := n.wrap.Seal(nw, nw, dataKey, ad) // nonce || sealed data key
	return &ledger.SealedAccountNumber{Ciphertext: ciphertext, WrappedKey: wrapped, KeyID: n.keyID}, nil
}

// nonce returns a fresh random nonce for aead.
func nonce(aead cipher.AEAD) []byte {
	b := make([]byte, aead.NonceSize(), aead.NonceSize()+64+aead.Overhead())
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return b
}

// open decrypts s, sealed for the account accountID.
func (n accountNumbers) open(accountID uuid.UUID, s ledger.SealedAccountNumber) (string, error) {
	if s.KeyID != n.keyID {
		return "", fmt.Errorf("%w: sealed under key %q, this ledger has %q", ErrAccountNumberSealed, s.KeyID, n.keyID)
	}
	ad := accountNumberAD(accountID)
	dataKey, err := openSealed(n.wrap, s.WrappedKey, ad)
	if err != nil {
		return "", ErrAccountNumberSealed
	}
	aead, err := newGCM(dataKey)
	if err != nil {
		return "", ErrAccountNumberSealed
	}
	number, err := openSealed(aead, s.Ciphertext, ad)
	if err != nil {
		return "", ErrAccountNumberSealed
	}
	return string(number), nil
}

func openSealed(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrAccountNumberSealed
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
}

// AccountNumberDigest is a keyed hash of an account number (HMAC-SHA-256
// under a key derived from the account number key): what a record that
// must tell two numbers apart keeps in its place. An unkeyed hash of a
// number of a few digits would give it away to anyone who tries them all.
func (a *App) AccountNumberDigest(number string) string {
	mac := hmac.New(sha256.New, a.accountNumbers.hashKey)
	mac.Write([]byte(number))
	return hex.EncodeToString(mac.Sum(nil))
}

// AccountNumber opens the account number of the account id, for the
// payment rail: never answered over the API. ENotFound for an unknown
// account or one without bank details; ErrAccountNumberSealed when the
// sealed number does not open with this ledger's key.
func (a *App) AccountNumber(ctx context.Context, id uuid.UUID) (_ string, err error) {
	defer ledger.Wrap(&err, "AccountNumber(%s)", id)
	acct, err := a.directory().Account(ctx, id)
	if err != nil {
		return "", err
	}
	if acct.AccountNumber == nil {
		return "", ledger.Errorf(ledger.ENotFound, "account %s has no bank details", id)
	}
	return a.accountNumbers.open(id, *acct.AccountNumber)
}
