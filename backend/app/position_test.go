package app_test

import (
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app"
)

// POSITION_KEY is 32 bytes in any base64 alphabet; anything else is
// refused with a message that says what to give.
func TestParsePositionKey(t *testing.T) {
	for _, ok := range []string{
		"bG9jYWwtZGV2LXBvc2l0aW9uLWtleS1uby1zZWNyZXQ=", // the development default
		"bG9jYWwtZGV2LXBvc2l0aW9uLWtleS1uby1zZWNyZXQ",
		"q3T9n0v8XJ2m5Kp1c7Wd4Ls6Hf0Rb2Ye8Ua1Zg3Mx5o=",
		"q3T9n0v8XJ2m5Kp1c7Wd4Ls6Hf0Rb2Ye8Ua1Zg3Mx5o=\n",
		"_____________________________________________w"[:43],
	} {
		if key, err := app.ParsePositionKey(ok); err != nil || len(key) != app.PositionKeySize {
			t.Errorf("%q: %d bytes, %v", ok, len(key), err)
		}
	}
	for _, bad := range []string{"", "short", "c2hvcnQ=", "not base64 at all!", strings.Repeat("A", 64)} {
		if _, err := app.ParsePositionKey(bad); err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("%q: %v, want a refusal saying what to give", bad, err)
		}
	}
}
