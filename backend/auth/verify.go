// Package auth verifies the bearer tokens callers present (JWTs signed by an
// issuer whose keys are published as a JWK Set) and, for local use only,
// issues development tokens with a key of the ledger's own.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Claims are what a verified token says about its bearer.
type Claims struct {
	Subject string
	Issuer  string
	// Role is the token's "role" claim: member, administrator, auditor or
	// operator.
	Role string
}

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("invalid token")

// Algorithms are the signature algorithms accepted: asymmetric ones only,
// so that "none" is refused and a published public key can never be used
// as an HMAC secret.
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// MaxLeeway bounds the configurable clock skew.
const MaxLeeway = 2 * time.Minute

// Key refreshes: the issuer's JWK Set is read again every refreshInterval,
// and at most once per unknownKIDInterval when a token names a key it does
// not hold (a rotation). Tokens with made-up key ids beyond that fail at
// once instead of each asking the issuer.
const (
	refreshInterval    = 15 * time.Minute
	unknownKIDInterval = 30 * time.Second
)

// VerifierConfig says whose tokens to accept.
type VerifierConfig struct {
	// Issuer is the iss every token must carry.
	Issuer string
	// Audience is an aud every token must carry.
	Audience string
	// JWKSURL is where the issuer publishes its keys; empty means OpenID
	// Connect discovery at Issuer + "/.well-known/openid-configuration".
	JWKSURL string
	// Leeway is the clock skew allowed; 0 means DefaultLeeway.
	Leeway time.Duration
	// HTTPClient fetches the discovery document and the keys; nil means a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now returns the current time; tests may fix it.
	Now func() time.Time
	// CacheSize is how many verified tokens are remembered (see cache.go):
	// 0 means DefaultCacheSize, a negative size turns the cache off.
	CacheSize int
}

// Verifier checks tokens: signature against the issuer's current keys,
// algorithm, issuer, audience, expiry and not-before.
//
// A successful verification is cached by the token's SHA-256 until
// shortly before the token expires, 5 minutes at most (cache.go): a token
// signed with a key the issuer has since removed from its JWK Set keeps
// verifying until its entry lapses.
type Verifier struct {
	keys   jwt.Keyfunc
	parser *jwt.Parser
	now    func() time.Time
	cache  *tokenCache
}

// NewVerifier returns a verifier of cfg.Issuer's tokens that keeps its JWK
// Set fresh until ctx ends.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: a verifier needs an issuer and an audience")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		var err error
		if jwksURL, err = discoverJWKS(ctx, cfg.HTTPClient, cfg.Issuer); err != nil {
			return nil, err
		}
	}
	logger := cfg.Logger
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{jwksURL}, keyfunc.Override{
		Client:            cfg.HTTPClient,
		HTTPTimeout:       10 * time.Second,
		RefreshInterval:   refreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKIDInterval), 1),
		// This bounds both the wait for the limiter and the refresh itself.
		// The limiter's next slot is further off than that, so past the limit
		// an unknown key id fails at once instead of waiting for it.
		RateLimitWaitMax: 5 * time.Second,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "cannot refresh the token issuer's keys; the ones held stay in use", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: keys of %s: %w", cfg.Issuer, err)
	}
	return newVerifier(k.Keyfunc, cfg), nil
}

// NewStaticVerifier returns a verifier of tokens signed with the keys of a
// JWK Set known in advance (the development issuer's).
func NewStaticVerifier(jwks []byte, cfg VerifierConfig) (*Verifier, error) {
	k, err := keyfunc.NewJWKSetJSON(jwks)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return newVerifier(k.Keyfunc, cfg), nil
}

func newVerifier(keys jwt.Keyfunc, cfg VerifierConfig) *Verifier {
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(min(cfg.Leeway, MaxLeeway)),
		jwt.WithStrictDecoding(),
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Verifier{keys: keys, parser: jwt.NewParser(opts...), now: now, cache: newTokenCache(cfg.CacheSize)}
}

type tokenClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
}

// Verify checks a token and returns its claims; every failure wraps
// ErrInvalidToken and says why. A token verified shortly before is
// answered from the cache with the claims its verification returned.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if v.cache == nil {
		claims, _, err := v.verify(token)
		return claims, err
	}
	key := sha256.Sum256([]byte(token))
	if claims, ok := v.cache.get(key, v.now()); ok {
		return claims, nil
	}
	claims, exp, err := v.verify(token)
	if err != nil {
		return Claims{}, err
	}
	v.cache.put(key, claims, exp, v.now())
	return claims, nil
}

// verify checks a token's signature and claims and returns its claims and
// when it expires.
func (v *Verifier) verify(token string) (Claims, time.Time, error) {
	var c tokenClaims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keys); err != nil {
		return Claims{}, time.Time{}, fmt.Errorf("%w: %s", ErrInvalidToken, reason(err))
	}
	if c.Subject == "" {
		return Claims{}, time.Time{}, fmt.Errorf("%w: the token names no subject", ErrInvalidToken)
	}
	if c.ExpiresAt == nil { // required by the parser; never cached without one
		return Claims{}, time.Time{}, fmt.Errorf("%w: the token lacks a required claim", ErrInvalidToken)
	}
	return Claims{Subject: c.Subject, Issuer: c.Issuer, Role: c.Role}, c.ExpiresAt.Time, nil
}

// reason says in a few words why a token was refused, without echoing it.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token was issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token is for another audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token is from another issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signature does not verify"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	}
	return "the token does not verify"
}

// discoverJWKS reads the issuer's OpenID Connect discovery document.
func discoverJWKS(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("auth: discovery: %w", err)
	}
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("auth: discovery at %s: %w", u, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("auth: discovery at %s answered %s", u, res.Status)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("auth: discovery at %s: %w", u, err)
	}
	if doc.Issuer != issuer || doc.JWKSURI == "" {
		return "", fmt.Errorf("auth: discovery at %s names issuer %q and keys %q; want issuer %q and a jwks_uri", u, doc.Issuer, doc.JWKSURI, issuer)
	}
	return doc.JWKSURI, nil
}
