package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DevIssuerName is the iss of development tokens. Nothing outside a
// developer's machine should accept it.
const DevIssuerName = "urn:ledger:development-issuer"

// DevTokenTTL is how long a development token lasts.
const DevTokenTTL = 12 * time.Hour

// DevIssuer signs development tokens with a P-256 key of the ledger's own,
// so that the API can be called locally and from Postman without an
// identity provider. It is off unless AUTH_DEV_ISSUER=true.
type DevIssuer struct {
	key      *ecdsa.PrivateKey
	kid      string
	audience string
	now      func() time.Time
}

// NewDevKey generates a development signing key: its id and its PKCS #8 form.
func NewDevKey() (kid string, pkcs8 []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	pkcs8, err = x509.MarshalPKCS8PrivateKey(key)
	return uuid.NewString(), pkcs8, err
}

// NewDevIssuer returns the development issuer of tokens for audience, with
// the key from NewDevKey.
func NewDevIssuer(kid string, pkcs8 []byte, audience string, now func() time.Time) (*DevIssuer, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("auth: development key: %w", err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("auth: the development key is not an ECDSA key")
	}
	if now == nil {
		now = time.Now
	}
	return &DevIssuer{key: key, kid: kid, audience: audience, now: now}, nil
}

// Issue signs a token for subject in role, valid for DevTokenTTL.
func (d *DevIssuer) Issue(subject, role string) (string, error) {
	now := d.now()
	token := jwt.NewWithClaims(jwt.SigningMethodES256, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: DevIssuerName, Subject: subject, Audience: jwt.ClaimStrings{d.audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(DevTokenTTL)), ID: uuid.NewString(),
		},
		Role: role,
	})
	token.Header["kid"] = d.kid
	return token.SignedString(d.key)
}

// JWKS returns the public JWK Set that verifies the issuer's tokens.
func (d *DevIssuer) JWKS() ([]byte, error) {
	jwk, err := jwkset.NewJWKFromKey(d.key.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES256, KID: d.kid, USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: development key set: %w", err)
	}
	set := jwkset.NewMemoryStorage()
	if err := set.KeyWrite(context.Background(), jwk); err != nil {
		return nil, err
	}
	return set.JSONPublic(context.Background())
}

// Verifier returns a verifier of the issuer's tokens, with the same checks
// as for any issuer's.
func (d *DevIssuer) Verifier() (*Verifier, error) {
	jwks, err := d.JWKS()
	if err != nil {
		return nil, err
	}
	return NewStaticVerifier(jwks, VerifierConfig{Issuer: DevIssuerName, Audience: d.audience, Now: d.now})
}
