package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Verified tokens are cached: an ES256 verification costs about a fifth
// of the ledger's CPU per request, and a client presents the same token
// for every request until it expires. A token's claims are kept by the
// SHA-256 of its exact string, so a token that differs in any byte (a
// tampered one) misses and is verified. Only successful verifications are
// kept, each until shortly before the token expires and for at most
// cacheTTL, and an entry is never served at or past that time.
//
// Key rotation: verification happens once per entry, so a token signed
// with a key the issuer has since withdrawn from its JWK Set stays
// accepted until its entry lapses, cacheTTL (5 minutes) at most. To cut
// a key off at once, restart the ledger's processes (or configure
// CacheSize -1). README.md (Tokens) tells operators.
const (
	// cacheTTL bounds how long a verification is reused.
	cacheTTL = 5 * time.Minute
	// cacheMargin is how long before its exp a token stops being served
	// from the cache (it is verified again then, and refused once expired
	// beyond the leeway).
	cacheMargin = 30 * time.Second
	// DefaultCacheSize is how many verified tokens are kept unless
	// configured.
	DefaultCacheSize = 10000
)

type cachedClaims struct {
	claims Claims
	until  time.Time
}

// tokenCache maps the SHA-256 of a token to the claims its verification
// returned. It is safe for concurrent use.
type tokenCache struct {
	mu      sync.Mutex
	size    int
	entries map[[sha256.Size]byte]cachedClaims
}

func newTokenCache(size int) *tokenCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	return &tokenCache{size: size, entries: make(map[[sha256.Size]byte]cachedClaims)}
}

// get returns the claims cached for key unless they lapsed by now.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (Claims, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && !now.Before(e.until) {
		delete(c.entries, key)
		ok = false
	}
	c.mu.Unlock()
	return e.claims, ok
}

// put keeps claims for key until min(exp - cacheMargin, now + cacheTTL);
// a token that close to its expiry is not kept. When the cache is full,
// lapsed entries go first, and all of them if none has lapsed.
func (c *tokenCache) put(key [sha256.Size]byte, claims Claims, exp, now time.Time) {
	until := exp.Add(-cacheMargin)
	if limit := now.Add(cacheTTL); limit.Before(until) {
		until = limit
	}
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.size {
			clear(c.entries)
		}
	}
	c.entries[key] = cachedClaims{claims: claims, until: until}
}
