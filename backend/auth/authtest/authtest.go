// Package authtest signs real tokens for tests: a development issuer with a
// key of the test's own, verified by the same checks as any issuer's.
package authtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/reimbursement-ledger/ledger/backend/auth"
)

// Audience is the audience of the test issuer's tokens.
const Audience = "ledger-test"

// Issuer signs tokens for one test.
type Issuer struct {
	t   testing.TB
	dev *auth.DevIssuer
}

// NewIssuer returns an issuer with a fresh key.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	kid, key, err := auth.NewDevKey()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := auth.NewDevIssuer(kid, key, Audience, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{t: t, dev: dev}
}

// Token signs a token for subject in role.
func (is *Issuer) Token(role, subject string) string {
	is.t.Helper()
	tok, err := is.dev.Issue(subject, role)
	if err != nil {
		is.t.Fatal(err)
	}
	return tok
}

// Verifier returns the verifier of the issuer's tokens.
func (is *Issuer) Verifier() *auth.Verifier {
	is.t.Helper()
	v, err := is.dev.Verifier()
	if err != nil {
		is.t.Fatal(err)
	}
	return v
}

// Issue signs a token for subject in role, as a development issuer does.
func (is *Issuer) Issue(subject, role string) (string, error) { return is.dev.Issue(subject, role) }

// JWKSServer is an identity provider over real HTTP: it publishes its key
// as a JWK Set and signs tokens with its own issuer name, as a production
// issuer does.
type JWKSServer struct {
	t testing.TB
	// Issuer is the iss of its tokens; JWKSURL serves its keys.
	Issuer, JWKSURL string
	key             *ecdsa.PrivateKey
}

// NewJWKSServer starts an identity provider for the test.
func NewJWKSServer(t testing.TB) *JWKSServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES256, KID: "test-key", USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	set := jwkset.NewMemoryStorage()
	if err := set.KeyWrite(context.Background(), jwk); err != nil {
		t.Fatal(err)
	}
	jwks, err := set.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	return &JWKSServer{t: t, Issuer: srv.URL + "/", JWKSURL: srv.URL + "/jwks", key: key}
}

// Token signs a token for subject in role, valid for an hour.
func (s *JWKSServer) Token(role, subject string) string {
	s.t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": s.Issuer, "aud": Audience, "sub": subject, "role": role,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	tok.Header["kid"] = "test-key"
	signed, err := tok.SignedString(s.key)
	if err != nil {
		s.t.Fatal(err)
	}
	return signed
}
