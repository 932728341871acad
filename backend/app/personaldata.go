package app

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Personal data is sealed per person (crypto-shredding). Each member has a
// random 256-bit data key, kept wrapped (AES-256-GCM) under a key derived
// with HKDF from the deployment's PII_KEY. The personal-data fields of the
// events (ledger.PersonalFieldsOf: descriptions, notes, reasons, e-mail
// addresses) are stored as tokens, "pii:v1:<member id>:<base64url of nonce
// and ciphertext>", sealed with AES-256-GCM under the member's data key and
// bound to the member and the field. The hash chain and the audit tree
// cover the tokens, so destroying a member's key erases those fields while
// every hash and proof still verifies. The use cases see plaintext: the
// event store App reads through opens the tokens, and so do the lists
// (the read model keeps the tokens, so a rebuild after an erasure shows
// the fields erased too). Amounts, dates, statuses and ids stay in clear.

// PIIKeySize is the length of the personal data key: 32 bytes.
const PIIKeySize = 32

// ParsePIIKey reads a personal data key as configured: 32 bytes in base64.
func ParsePIIKey(s string) ([]byte, error) { return ParsePositionKey(s) }

// ErrPersonalDataSealed: a token does not open under its member's key
// (another PII_KEY, or a token moved onto another member or field).
var ErrPersonalDataSealed = errors.New("personal data does not open with this key")

// SubjectKeys stores each data subject's (member's) wrapped data key.
type SubjectKeys interface {
	// Ensure stores key as the subject's wrapped key when it has none
	// (and was never erased), and returns the subject's key as stored;
	// erased when it was erased. It writes outside any transaction: a key
	// once made stays, even when the append it was made for rolls back.
	Ensure(ctx context.Context, subject uuid.UUID, key WrappedKey, at time.Time) (stored WrappedKey, erased bool, err error)
	// Keys returns the wrapped keys of those subjects that have one.
	Keys(ctx context.Context, subjects []uuid.UUID) (map[uuid.UUID]WrappedKey, error)
	// Lock holds the subject's row until the transaction ends, creating it
	// (without a key) when missing; erasedAt is when it was erased, zero
	// while it was not. Appends of events carrying the subject's personal
	// data wait for it, and fail once it is erased.
	Lock(ctx context.Context, subject uuid.UUID, at time.Time) (erasedAt time.Time, err error)
	// Erase destroys the subject's key and records when.
	Erase(ctx context.Context, subject uuid.UUID, at time.Time) error
}

// WrappedKey is a data key sealed under the personal data key, and the id
// of that key.
type WrappedKey struct {
	Key   []byte
	KeyID string
}

const (
	tokenPrefix = "pii:v1:"
	// subjectKeyTTL bounds how long a process keeps a member's opened data
	// key: another process's erasure reaches it within this time (the
	// erasing process forgets the key at once).
	subjectKeyTTL = 10 * time.Second
)

// personalData seals and opens personal data.
type personalData struct {
	wrap  cipher.AEAD
	keyID string
	mu    sync.Mutex
	cache map[uuid.UUID]subjectKey
}

type subjectKey struct {
	aead   cipher.AEAD // nil when erased
	erased bool
	at     time.Time
}

var (
	defaultPersonal     *personalData
	defaultPersonalOnce sync.Once
)

// newPersonalData returns the sealer of key; with no key, a random key of
// this process shared by every App in it (personal data stored then opens
// only in this process: for tests and a development ledger).
func newPersonalData(key []byte) (*personalData, error) {
	if len(key) == 0 {
		var err error
		defaultPersonalOnce.Do(func() {
			random := make([]byte, PIIKeySize)
			_, _ = rand.Read(random)
			defaultPersonal, err = newPersonalData(random)
		})
		return defaultPersonal, err
	}
	if len(key) != PIIKeySize {
		return nil, fmt.Errorf("the personal data key has %d bytes, want %d", len(key), PIIKeySize)
	}
	kek, err := hkdf.Key(sha256.New, key, nil, "ledger personal data key wrapping v1", 32)
	if err != nil {
		return nil, err
	}
	id, err := hkdf.Key(sha256.New, key, nil, "ledger personal data key id v1", 8)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	return &personalData{wrap: aead, keyID: hex.EncodeToString(id), cache: map[uuid.UUID]subjectKey{}}, nil
}

func subjectAD(subject uuid.UUID, field string) []byte {
	return append(append([]byte("ledger personal data v1 "), subject[:]...), field...)
}

func keyAD(subject uuid.UUID) []byte {
	return append([]byte("ledger personal data key v1 "), subject[:]...)
}

// cached returns a subject's key from the cache while fresh.
func (pd *personalData) cached(subject uuid.UUID) (subjectKey, bool) {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	k, ok := pd.cache[subject]
	if ok && !k.erased && time.Since(k.at) > subjectKeyTTL {
		delete(pd.cache, subject)
		return subjectKey{}, false
	}
	return k, ok
}

func (pd *personalData) remember(subject uuid.UUID, k subjectKey) {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if len(pd.cache) > 100_000 {
		clear(pd.cache)
	}
	pd.cache[subject] = k
}

// forget drops a subject's key from the cache: it was just erased.
func (pd *personalData) forget(subject uuid.UUID) {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	pd.cache[subject] = subjectKey{erased: true, at: time.Now()}
}

// unwrap opens a stored wrapped key.
func (pd *personalData) unwrap(subject uuid.UUID, w WrappedKey) (cipher.AEAD, error) {
	if w.KeyID != pd.keyID {
		return nil, fmt.Errorf("%w: member %s's key is wrapped under key %q, this ledger has %q", ErrPersonalDataSealed, subject, w.KeyID, pd.keyID)
	}
	dataKey, err := openSealed(pd.wrap, w.Key, keyAD(subject))
	if err != nil {
		return nil, fmt.Errorf("%w: member %s's key", ErrPersonalDataSealed, subject)
	}
	return newGCM(dataKey)
}

// sealKey returns the key to seal a subject's data with, creating it
// when the subject has none; EConflict when it was erased.
func (pd *personalData) sealKey(ctx context.Context, keys SubjectKeys, subject uuid.UUID, now time.Time) (cipher.AEAD, error) {
	if k, ok := pd.cached(subject); ok {
		if k.erased {
			return nil, erasedError(subject)
		}
		return k.aead, nil
	}
	dataKey := make([]byte, 32)
	_, _ = rand.Read(dataKey)
	nw := nonce(pd.wrap)
	fresh := WrappedKey{Key: pd.wrap.Seal(nw, nw, dataKey, keyAD(subject)), KeyID: pd.keyID}
	stored, erased, err := keys.Ensure(ctx, subject, fresh, now)
	if err != nil {
		return nil, err
	}
	if erased {
		pd.remember(subject, subjectKey{erased: true, at: time.Now()})
		return nil, erasedError(subject)
	}
	aead, err := pd.unwrap(subject, stored)
	if err != nil {
		return nil, err
	}
	pd.remember(subject, subjectKey{aead: aead, at: time.Now()})
	return aead, nil
}

func erasedError(subject uuid.UUID) error {
	return ledger.Errorf(ledger.EConflict, "member %s's personal data was erased: nothing more may be recorded about them", subject)
}

// seal returns the token of one field's value.
func seal(aead cipher.AEAD, subject uuid.UUID, field, value string) string {
	nc := nonce(aead)
	sealed := aead.Seal(nc, nc, []byte(value), subjectAD(subject, field))
	return tokenPrefix + subject.String() + ":" + base64.RawURLEncoding.EncodeToString(sealed)
}

// parseToken splits a token; false when s is not one (plain text: data
// recorded before personal data was sealed).
func parseToken(s string) (uuid.UUID, []byte, bool) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return uuid.Nil, nil, false
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return uuid.Nil, nil, false
	}
	subject, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, nil, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return uuid.Nil, nil, false
	}
	return subject, sealed, true
}

// sealEvents seals the personal-data fields of events that have a subject.
// It reports which it sealed.
func (pd *personalData) sealEvents(ctx context.Context, keys SubjectKeys, events []ledger.PendingEvent, now time.Time) ([]ledger.PendingEvent, []bool, error) {
	out, changed := make([]ledger.PendingEvent, len(events)), make([]bool, len(events))
	for i, e := range events {
		out[i] = e
		if e.Subject == uuid.Nil || len(ledger.PersonalFieldsOf(e.Event.EventType())) == 0 {
			continue
		}
		var aead cipher.AEAD
		sealed, err := ledger.WithPersonalFields(e.Event, func(field string, v *string) error {
			if *v == "" {
				return nil
			}
			if aead == nil {
				var err error
				if aead, err = pd.sealKey(ctx, keys, e.Subject, now); err != nil {
					return err
				}
			}
			*v = seal(aead, e.Subject, field, *v)
			changed[i] = true
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		out[i].Event = sealed
	}
	return out, changed, nil
}

// opener opens the tokens of a batch with one read of the keys it lacks.
type opener struct {
	ctx  context.Context
	pd   *personalData
	keys SubjectKeys
	want map[uuid.UUID]bool
}

func (pd *personalData) opener(ctx context.Context, keys SubjectKeys) *opener {
	return &opener{ctx: ctx, pd: pd, keys: keys, want: map[uuid.UUID]bool{}}
}

// note records that s will be opened.
func (o *opener) note(s string) {
	if subject, _, ok := parseToken(s); ok {
		if _, cached := o.pd.cached(subject); !cached {
			o.want[subject] = true
		}
	}
}

// load reads the keys the noted tokens need.
func (o *opener) load() error {
	if len(o.want) == 0 {
		return nil
	}
	subjects := make([]uuid.UUID, 0, len(o.want))
	for s := range o.want {
		subjects = append(subjects, s)
	}
	got, err := o.keys.Keys(o.ctx, subjects)
	if err != nil {
		return err
	}
	for _, s := range subjects {
		w, ok := got[s]
		if !ok {
			o.pd.remember(s, subjectKey{erased: true, at: time.Now()})
			continue
		}
		aead, err := o.pd.unwrap(s, w)
		if err != nil {
			return err
		}
		o.pd.remember(s, subjectKey{aead: aead, at: time.Now()})
	}
	clear(o.want)
	return nil
}

// open returns the plaintext of a field's value: ledger.Erased once its
// member's key is gone; the value itself when it is no token.
func (o *opener) open(field, s string) (string, error) {
	subject, sealed, ok := parseToken(s)
	if !ok {
		return s, nil
	}
	k, ok := o.pd.cached(subject)
	if !ok { // expired since load: read it again
		o.want[subject] = true
		if err := o.load(); err != nil {
			return "", err
		}
		k, _ = o.pd.cached(subject)
	}
	if k.erased || k.aead == nil {
		return ledger.Erased, nil
	}
	plain, err := openSealed(k.aead, sealed, subjectAD(subject, field))
	if err != nil {
		return "", fmt.Errorf("%w: member %s's %s", ErrPersonalDataSealed, subject, field)
	}
	return string(plain), nil
}

// openEvents rewrites, in place, the data of the events that carry
// personal data with their fields opened.
func (pd *personalData) openEvents(ctx context.Context, keys SubjectKeys, recs []ledger.RecordedEvent) error {
	o := pd.opener(ctx, keys)
	type pending struct {
		i      int
		fields map[string]json.RawMessage
	}
	var todo []pending
	for i, rec := range recs {
		personal := ledger.PersonalFieldsOf(rec.Type)
		if len(personal) == 0 || !strings.Contains(string(rec.Data), tokenPrefix) {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(rec.Data, &fields); err != nil {
			return fmt.Errorf("event %s: %w", rec.EventID, err)
		}
		for _, f := range personal {
			var s string
			if json.Unmarshal(fields[f], &s) == nil {
				o.note(s)
			}
		}
		todo = append(todo, pending{i: i, fields: fields})
	}
	if len(todo) == 0 {
		return nil
	}
	if err := o.load(); err != nil {
		return err
	}
	for _, p := range todo {
		rec := &recs[p.i]
		for _, f := range ledger.PersonalFieldsOf(rec.Type) {
			var s string
			if json.Unmarshal(p.fields[f], &s) != nil {
				continue
			}
			plain, err := o.open(f, s)
			if err != nil {
				return err
			}
			p.fields[f], _ = json.Marshal(plain)
		}
		data, err := json.Marshal(p.fields)
		if err != nil {
			return err
		}
		rec.Data = data
	}
	return nil
}

// openReimbursements opens, in place, the personal-data fields of
// reimbursements read from the read model.
func (pd *personalData) openReimbursements(ctx context.Context, keys SubjectKeys, rs []ledger.Reimbursement) error {
	o := pd.opener(ctx, keys)
	for _, r := range rs {
		o.note(r.Description)
		o.note(r.DenialReason)
		for _, a := range r.Approvals {
			o.note(a.Note)
		}
	}
	if err := o.load(); err != nil {
		return err
	}
	var err error
	for i := range rs {
		r := &rs[i]
		if r.Description, err = o.open("description", r.Description); err != nil {
			return err
		}
		if r.DenialReason, err = o.open("reason", r.DenialReason); err != nil {
			return err
		}
		approvals := make([]ledger.Approval, len(r.Approvals))
		for j, a := range r.Approvals {
			if a.Note, err = o.open("note", a.Note); err != nil {
				return err
			}
			approvals[j] = a
		}
		r.Approvals = approvals
	}
	return nil
}

// personalEvents is the event store the use cases read and append
// through: it seals what it appends and opens what it loads.
type personalEvents struct {
	EventStore
	keys SubjectKeys
	pd   *personalData
	now  func() time.Time
}

// Load returns the events with their personal data opened.
func (s personalEvents) Load(ctx context.Context, streamIDs ...uuid.UUID) ([]ledger.RecordedEvent, error) {
	recs, err := s.EventStore.Load(ctx, streamIDs...)
	if err != nil {
		return nil, err
	}
	return recs, s.pd.openEvents(ctx, s.keys, recs)
}

// Append seals the events' personal data, appends them, and returns them
// as recorded, opened.
func (s personalEvents) Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) ([]ledger.RecordedEvent, error) {
	sealed, changed, err := s.pd.sealEvents(ctx, s.keys, events, s.now())
	if err != nil {
		return nil, err
	}
	recs, err := s.EventStore.Append(ctx, meta, sealed...)
	if err != nil {
		return nil, err
	}
	// What was recorded is what was given, sealed: answer it as given,
	// encoded as the store encoded it, rather than open it again.
	if len(recs) != len(events) {
		return recs, s.pd.openEvents(ctx, s.keys, recs)
	}
	for i := range recs {
		if !changed[i] {
			continue
		}
		data, err := json.Marshal(events[i].Event)
		if err != nil {
			return nil, err
		}
		recs[i].Data = data
	}
	return recs, nil
}

// withPersonalData returns es sealing and opening personal data with keys.
func (a *App) withPersonalData(es EventStore, keys SubjectKeys) EventStore {
	return a.personal.events(es, keys, a.now)
}

// events returns es sealing and opening personal data with keys; es
// itself when it does so already.
func (pd *personalData) events(es EventStore, keys SubjectKeys, now func() time.Time) EventStore {
	if _, ok := es.(personalEvents); ok || es == nil {
		return es
	}
	return personalEvents{EventStore: es, keys: keys, pd: pd, now: now}
}

// PersonalData opens the personal data of what the worker's consumer
// groups read (the webhooks carry plaintext): App.PersonalData's.
type PersonalData struct {
	pd *personalData
}

// PersonalData returns the worker's handle on a's personal data key.
func (a *App) PersonalData() PersonalData { return PersonalData{pd: a.personal} }

// events returns es reading and appending through the personal data of
// p; the zero PersonalData uses the process's own key (newPersonalData).
func (p PersonalData) events(es EventStore, keys SubjectKeys) EventStore {
	pd := p.pd
	if pd == nil {
		pd, _ = newPersonalData(nil)
	}
	return pd.events(es, keys, time.Now)
}
