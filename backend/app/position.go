package app

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Reading your own writes: every command tells its caller where the last
// event it appended is, and a list asked for that place
// (ListQuery.MinPosition) answers only once the read model shows it, or
// says it cannot yet.
//
// The place is an event's position in the whole ledger, which would tell
// anyone how many events every bank records. So callers get it sealed: a
// position token, the position encrypted with AES-256-GCM under the
// deployment's position key (POSITION_KEY), a fresh random nonce each time,
// and bound to the caller's tenant (an administrator's bank, a member, or
// the principal itself for other roles) as additional data. A token tells
// nothing about the position, two tokens of one position look unrelated,
// and a token forged, altered or handed to another tenant does not open.

// Errors of a list that waits for a position.
var (
	// ErrBadPositionToken: min_position is not a token this ledger sealed
	// for the caller's tenant.
	ErrBadPositionToken = &ledger.Error{Code: ledger.EInvalid, Message: "min_position must be a Ledger-Position this ledger answered you",
		Fields: []ledger.FieldError{{Field: "min_position", Message: "is not a Ledger-Position token handed out to you"}}}
	// ErrUnknownPosition: the token opened, but no committed event has the
	// position it holds (a token from another ledger sealed with the same
	// key, or from before a restore).
	ErrUnknownPosition = &ledger.Error{Code: ledger.EInvalid, Message: "min_position must name an event the ledger recorded",
		Fields: []ledger.FieldError{{Field: "min_position", Message: "names no event this ledger recorded"}}}
	// ErrNotCaughtUp: the read model did not reach the position within the
	// wait; the event is recorded, and a later read will show it.
	ErrNotCaughtUp = errors.New("the lists have not caught up with min_position yet; retry shortly")
)

// PositionKeySize is the length of the position key: AES-256.
const PositionKeySize = 32

// ParsePositionKey reads a position key as configured: 32 bytes in base64
// (standard or URL alphabet, padded or not), as `openssl rand -base64 32`
// prints one.
func ParsePositionKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != PositionKeySize {
				return nil, fmt.Errorf("want %d bytes in base64 (openssl rand -base64 32), got %d", PositionKeySize, len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("not base64: want 32 random bytes in base64 (openssl rand -base64 32)")
}

// positionTokenVersion leads every token, so that a later scheme can tell
// its tokens from these.
const positionTokenVersion = 1

// positionTokens seals and opens position tokens.
type positionTokens struct {
	aead cipher.AEAD
}

// newPositionTokens returns the sealer of key, a random key when key is
// empty (tokens then open only in this process: for tests).
func newPositionTokens(key []byte) (positionTokens, error) {
	if len(key) == 0 {
		key = make([]byte, PositionKeySize)
		if _, err := rand.Read(key); err != nil {
			return positionTokens{}, err
		}
	}
	if len(key) != PositionKeySize {
		return positionTokens{}, fmt.Errorf("the position key has %d bytes, want %d", len(key), PositionKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return positionTokens{}, err
	}
	aead, err := cipher.NewGCM(block)
	return positionTokens{aead: aead}, err
}

// tenant is whom p's tokens are bound to: the bank an administrator acts
// for (its administrators read one another's writes), the member, or the
// principal itself.
func (p Principal) tenant() string {
	switch p.Role {
	case RoleAdministrator:
		return "bank:" + p.BankID.String()
	case RoleMember:
		return "member:" + p.ID.String()
	}
	return p.Actor()
}

func additionalData(p Principal) []byte {
	return []byte("ledger position token v1\x00" + p.tenant())
}

func (t positionTokens) seal(p Principal, position int64) string {
	nonce := make([]byte, t.aead.NonceSize(), 1+t.aead.NonceSize()+8+t.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail (Go 1.24 on)
	}
	out := append([]byte{positionTokenVersion}, nonce...)
	out = t.aead.Seal(out, nonce, binary.BigEndian.AppendUint64(nil, uint64(position)), additionalData(p))
	return base64.RawURLEncoding.EncodeToString(out)
}

// maxPositionToken bounds what is decoded: a token is 50 characters.
const maxPositionToken = 128

func (t positionTokens) open(p Principal, token string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	n := t.aead.NonceSize()
	if len(token) > maxPositionToken || err != nil || len(raw) != 1+n+8+t.aead.Overhead() || raw[0] != positionTokenVersion {
		return 0, ErrBadPositionToken
	}
	plain, err := t.aead.Open(nil, raw[1:1+n], raw[1+n:], additionalData(p))
	if err != nil {
		return 0, ErrBadPositionToken
	}
	position := int64(binary.BigEndian.Uint64(plain))
	if position <= 0 {
		return 0, ErrBadPositionToken
	}
	return position, nil
}

// PositionToken is the Ledger-Position a command answers p: the position
// of the last event it appended, sealed for p's tenant.
func (a *App) PositionToken(p Principal, position int64) string {
	return a.positions.seal(p, position)
}

// awaitToken opens p's position token and waits for the read model to
// reach it (see awaitReadModel); "" waits for nothing.
func (a *App) awaitToken(ctx context.Context, p Principal, token string) error {
	if token == "" {
		return nil
	}
	position, err := a.positions.open(p, token)
	if err != nil {
		return err
	}
	return a.awaitReadModel(ctx, position)
}

// Polls of the read model while waiting: soon at first, since the
// projection is usually a few milliseconds behind, then every maxReadPoll.
const (
	firstReadPoll = time.Millisecond
	maxReadPoll   = 10 * time.Millisecond
)

// awaitReadModel returns once the reimbursements read model has reached
// position: ErrUnknownPosition when no event has it, ErrNotCaughtUp when
// the read model is still behind after a's read wait, ctx's error when the
// caller goes first.
func (a *App) awaitReadModel(ctx context.Context, position int64) error {
	bound := time.NewTimer(a.readWait)
	defer bound.Stop()
	expired := false
	for wait := firstReadPoll; ; wait = min(2*wait, maxReadPoll) {
		reached, err := a.stores.Reimbursements.Reached(ctx, position)
		if ledger.ErrorCode(err) == ledger.ENotFound {
			return ErrUnknownPosition
		}
		if err != nil || reached {
			return err
		}
		if expired {
			return ErrNotCaughtUp
		}
		poll := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			poll.Stop()
			return ctx.Err()
		case <-bound.C:
			expired = true // one last look
		case <-poll.C:
		}
		poll.Stop()
	}
}
