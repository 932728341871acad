// Package webhook provides Standard Webhooks deliveries: signing secrets and
// signatures (standardwebhooks.com), an HTTP sender that refuses private
// destinations at dial time, and the retry schedule.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers the specification names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

const secretPrefix = "whsec_"

// secretBytes is the key length: 256 bits, as the specification suggests
// for HMAC-SHA256 (between 24 and 64 bytes).
const secretBytes = 32

// ErrInvalidSecret is a secret that is not whsec_ followed by base64.
var ErrInvalidSecret = errors.New("webhook: invalid secret")

// NewSecret returns a fresh signing secret, whsec_ followed by the base64 of
// 32 random bytes.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

func secretKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, ErrInvalidSecret
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) == 0 {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// Sign returns the webhook-signature header of one message: a v1 signature
// under each secret, separated by spaces. During a rotation the message is
// signed with the new and the old secret, so a receiver holding either
// verifies it, as the specification allows.
func Sign(id string, timestamp time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", ErrInvalidSecret
	}
	content := signedContent(id, timestamp, body)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(content)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// signedContent is "id.timestamp.body", the timestamp in Unix seconds.
func signedContent(id string, timestamp time.Time, body []byte) []byte {
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	b := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	b = append(b, id...)
	b = append(b, '.')
	b = append(b, ts...)
	b = append(b, '.')
	return append(b, body...)
}
