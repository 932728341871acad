package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/reimbursement-ledger/ledger/backend/auth"
)

// issuer is an identity provider in the test: it signs tokens with RSA keys
// and publishes the current ones as a JWK Set over real HTTP.
type issuer struct {
	t       *testing.T
	url     string
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey // published, by kid
	fetches atomic.Int64               // JWK Set requests served
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{t: t, keys: map[string]*rsa.PrivateKey{}}
	is.rotate("key-1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			w.Write([]byte(`{"issuer":"` + is.url + `","jwks_uri":"` + is.url + `/jwks"}`))
		case "/jwks":
			is.fetches.Add(1)
			w.Write(is.jwks())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	is.url = srv.URL
	return is
}

// rotate publishes a new key under kid, in place of every older one.
func (is *issuer) rotate(kid string) *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		is.t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = map[string]*rsa.PrivateKey{kid: key}
	return key
}

func (is *issuer) key(kid string) *rsa.PrivateKey {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys[kid]
}

func (is *issuer) jwks() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	set := jwkset.NewMemoryStorage()
	for kid, key := range is.keys {
		jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
		if err != nil {
			is.t.Fatal(err)
		}
		if err := set.KeyWrite(context.Background(), jwk); err != nil {
			is.t.Fatal(err)
		}
	}
	raw, err := set.JSONPublic(context.Background())
	if err != nil {
		is.t.Fatal(err)
	}
	return raw
}

const audience = "ledger-api"

// claims returns valid claims for this issuer, to be spoiled by a test.
func (is *issuer) claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": is.url, "aud": audience, "sub": "0193a000-0000-7000-8000-000000000101", "role": "member",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func (is *issuer) sign(kid string, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	is.t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		is.t.Fatal(err)
	}
	return s
}

func newVerifier(t *testing.T, is *issuer, jwksURL string) *auth.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{Issuer: is.url, Audience: audience, JWKSURL: jwksURL})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifierAcceptsAValidTokenFoundByDiscovery(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, "") // OpenID Connect discovery finds /jwks
	c, err := v.Verify(context.Background(), is.sign("key-1", is.key("key-1"), is.claims()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "0193a000-0000-7000-8000-000000000101" || c.Role != "member" || c.Issuer != is.url {
		t.Fatalf("claims %+v", c)
	}
}

func TestVerifierRefusesBadTokens(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, is.url+"/jwks")
	key := is.key("key-1")
	spoil := func(f func(jwt.MapClaims)) string {
		c := is.claims()
		f(c)
		return is.sign("key-1", key, c)
	}
	now := time.Now()
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// HS256 with the published public key as the secret: the classic
	// confusion attack on verifiers that let the token choose the algorithm.
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hmacTok := jwt.NewWithClaims(jwt.SigningMethodHS256, is.claims())
	hmacTok.Header["kid"] = "key-1"
	hmacWithPublicKey, err := hmacTok.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	if err != nil {
		t.Fatal(err)
	}
	noneTok := jwt.NewWithClaims(jwt.SigningMethodNone, is.claims())
	noneTok.Header["kid"] = "key-1"
	algNone, err := noneTok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	valid := is.sign("key-1", key, is.claims())
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := strings.Replace(string(payload), `"role":"member"`, `"role":"auditor"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedPayload)) + "." + parts[2]

	tests := []struct {
		name, token, why string
	}{
		{"expired", spoil(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), "expired"},
		{"not yet valid", spoil(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }), "not valid yet"},
		{"without expiry", spoil(func(c jwt.MapClaims) { delete(c, "exp") }), "required claim"},
		{"wrong audience", spoil(func(c jwt.MapClaims) { c["aud"] = "another-api" }), "audience"},
		{"wrong issuer", spoil(func(c jwt.MapClaims) { c["iss"] = "https://issuer.invalid" }), "issuer"},
		{"without subject", spoil(func(c jwt.MapClaims) { delete(c, "sub") }), "subject"},
		{"unknown key id", is.sign("key-9", stranger, is.claims()), "signature"},
		{"signed by a stranger under a known key id", is.sign("key-1", stranger, is.claims()), "signature"},
		{"alg none", algNone, "signature"},
		{"HS256 with the public key as secret", hmacWithPublicKey, "signature"},
		{"tampered payload", tampered, "signature"},
		{"not a JWT", "not-a-token", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.token)
			if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("Verify = %v, want an invalid token because %q", err, tt.why)
			}
		})
	}
	if _, err := v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("the unspoiled token: %v", err)
	}
}

// Within the allowed clock skew a just-expired token still verifies; past
// it, not.
func TestVerifierAllowsASmallClockSkew(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, is.url+"/jwks")
	c := is.claims()
	c["exp"] = time.Now().Add(-10 * time.Second).Unix()
	if _, err := v.Verify(context.Background(), is.sign("key-1", is.key("key-1"), c)); err != nil {
		t.Fatalf("expired 10 s ago, within the skew: %v", err)
	}
	c["exp"] = time.Now().Add(-auth.DefaultLeeway - 5*time.Second).Unix()
	if _, err := v.Verify(context.Background(), is.sign("key-1", is.key("key-1"), c)); err == nil {
		t.Fatal("a token expired beyond the skew verified")
	}
}

// The issuer rotates its key: the first token under the new key id makes
// the verifier read the key set again, and it verifies.
func TestVerifierFollowsAKeyRotation(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, is.url+"/jwks")
	if _, err := v.Verify(context.Background(), is.sign("key-1", is.key("key-1"), is.claims())); err != nil {
		t.Fatal(err)
	}
	newKey := is.rotate("key-2")
	if _, err := v.Verify(context.Background(), is.sign("key-2", newKey, is.claims())); err != nil {
		t.Fatalf("a token under the rotated key: %v", err)
	}
}

// Tokens naming unknown key ids cannot make the verifier hammer the issuer:
// one refresh at most per interval, and the rest fail at once.
func TestUnknownKeyIDsCauseNoRequestStorm(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, is.url+"/jwks")
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	before := is.fetches.Load()
	for i := range 50 {
		tok := is.sign("made-up-"+string(rune('a'+i%26)), stranger, is.claims())
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("token %d under an unknown key id: %v", i, err)
		}
	}
	if extra := is.fetches.Load() - before; extra > 1 {
		t.Fatalf("50 unknown key ids made %d requests for the key set, want at most 1", extra)
	}
}

func TestDevIssuerTokensVerifyWithTheSameChecks(t *testing.T) {
	kid, pkcs8, err := auth.NewDevKey()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := auth.NewDevIssuer(kid, pkcs8, audience, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dev.Verifier()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := dev.Issue("operator-1", "operator")
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil || c.Subject != "operator-1" || c.Role != "operator" || c.Issuer != auth.DevIssuerName {
		t.Fatalf("claims %+v, %v", c, err)
	}
	other, err := auth.NewDevIssuer(kid, pkcs8, "another-api", nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Issue("operator-1", "operator")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), foreign); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("a development token for another audience: %v", err)
	}
}
