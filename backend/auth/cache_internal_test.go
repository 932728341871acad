package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clock is a settable time for the issuer and the verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// cachedVerifier returns a development issuer and a verifier of its tokens
// (ES256) that counts the verifications it runs.
func cachedVerifier(t *testing.T, clk *clock, size int) (*DevIssuer, *Verifier, *atomic.Int64) {
	t.Helper()
	kid, pkcs8, err := NewDevKey()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := NewDevIssuer(kid, pkcs8, "ledger", clk.now)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := dev.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewStaticVerifier(jwks, VerifierConfig{Issuer: DevIssuerName, Audience: "ledger", Now: clk.now, CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	var verifications atomic.Int64
	keys := v.keys
	v.keys = func(tok *jwt.Token) (any, error) { verifications.Add(1); return keys(tok) }
	return dev, v, &verifications
}

func issue(t *testing.T, dev *DevIssuer, subject string) string {
	t.Helper()
	tok, err := dev.Issue(subject, "member")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAVerifiedTokenIsServedFromTheCacheUntilItLapses(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	dev, v, verifications := cachedVerifier(t, clk, 0)
	ctx := context.Background()
	tok := issue(t, dev, "member-1")
	exp := t0.Add(DevTokenTTL)

	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	clk.set(t0.Add(4 * time.Minute))
	again, err := v.Verify(ctx, tok)
	if err != nil || again != first || verifications.Load() != 1 {
		t.Fatalf("second Verify = %+v, %v after %d verifications; want %+v from the cache after 1", again, err, verifications.Load(), first)
	}
	if first != (Claims{Subject: "member-1", Issuer: DevIssuerName, Role: "member"}) {
		t.Fatalf("claims %+v", first)
	}
	// Five minutes at most: then the token is verified again.
	clk.set(t0.Add(cacheTTL))
	if _, err := v.Verify(ctx, tok); err != nil || verifications.Load() != 2 {
		t.Fatalf("after %s: %v, %d verifications, want 2", cacheTTL, err, verifications.Load())
	}
	// Close to its expiry a token is verified every time, never cached.
	clk.set(exp.Add(-time.Minute))
	if _, err := v.Verify(ctx, tok); err != nil || verifications.Load() != 3 {
		t.Fatalf("a minute before exp: %v, %d verifications, want 3", err, verifications.Load())
	}
	clk.set(exp.Add(-cacheMargin))
	for i := range 2 {
		if _, err := v.Verify(ctx, tok); err != nil || verifications.Load() != int64(4+i) {
			t.Fatalf("%s before exp: %v, %d verifications, want %d", cacheMargin, err, verifications.Load(), 4+i)
		}
	}
	// Past exp and the leeway it is refused, though it was verified before.
	clk.set(exp.Add(DefaultLeeway + time.Second))
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired token that was cached: %v", err)
	}
}

func TestFailuresAndTamperedTokensAreVerifiedEachTime(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	dev, v, verifications := cachedVerifier(t, clk, 0)
	ctx := context.Background()
	tok := issue(t, dev, "member-1")
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// The same signature over another payload: a different string, so a
	// cache miss, verified and refused.
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"role":"member"`, `"role":"operator"`, 1))) + "." + parts[2]
	for i := range 2 {
		if _, err := v.Verify(ctx, tampered); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("tampered token: %v", err)
		}
		if got := verifications.Load(); got != int64(2+i) {
			t.Fatalf("%d verifications after the tampered token's attempt %d, want %d: failures must not be cached", got, i+1, 2+i)
		}
	}
	if c, err := v.Verify(ctx, tok); err != nil || c.Role != "member" || verifications.Load() != 3 {
		t.Fatalf("the genuine token: %+v, %v, %d verifications", c, err, verifications.Load())
	}
}

func TestTheCacheIsBoundedAndCanBeTurnedOff(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	dev, v, _ := cachedVerifier(t, clk, 3)
	for i := range 10 {
		if _, err := v.Verify(context.Background(), issue(t, dev, "member-"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
		if n := len(v.cache.entries); n > 3 {
			t.Fatalf("%d entries in a cache of 3", n)
		}
	}
	dev, v, verifications := cachedVerifier(t, clk, -1)
	tok := issue(t, dev, "member-1")
	for range 3 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if verifications.Load() != 3 {
		t.Fatalf("%d verifications without a cache, want 3", verifications.Load())
	}
}

// Run with -race.
func TestTheCacheIsSafeForConcurrentUse(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	dev, v, verifications := cachedVerifier(t, clk, 4)
	var tokens []string
	for i := range 8 {
		tokens = append(tokens, issue(t, dev, "member-"+string(rune('a'+i))))
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				tok := tokens[(g+i)%len(tokens)]
				c, err := v.Verify(context.Background(), tok)
				if err != nil || c.Subject != "member-"+string(rune('a'+(g+i)%len(tokens))) {
					t.Errorf("Verify: %+v, %v", c, err)
					return
				}
				if i%50 == 0 {
					clk.set(clk.now().Add(time.Minute))
				}
			}
		}()
	}
	wg.Wait()
	if verifications.Load() >= 16*200 {
		t.Fatalf("%d verifications for %d calls: the cache served none", verifications.Load(), 16*200)
	}
}
