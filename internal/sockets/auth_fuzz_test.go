package sockets

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hotpot-rt/hotpot/internal/auth"
)

// FuzzTCPAuth feeds any bytes as a TCP agent's first frame, in every
// codec, through the Auth reading and the token check: nothing panics, and
// whatever is accepted names a valid agent id.
func FuzzTCPAuth(f *testing.F) {
	secret := strings.Repeat("k", 32)
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(), "groups": []string{"lobby"},
	}).SignedString([]byte(secret))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"type":"Auth","data":{"token":"` + signed + `"}}`))
	f.Add([]byte(`{"type":"Auth","data":{"token":""}}`))
	f.Add([]byte(`{"type":"Auth","data":"` + signed + `"}`))
	f.Add([]byte(`{"type":"Auth"}`))
	f.Add([]byte(`{"type":"Echo","data":{"token":"x"}}`))
	f.Add([]byte("\x82\xa4type\xa4Auth\xa4data\x81\xa5token\xa1x"))
	f.Add([]byte{0x0a, 0x04, 'A', 'u', 't', 'h', 0x12, 0x0b, '{', '"', 't', 'o', 'k', 'e', 'n', '"', ':', '1', '}'})
	verifier := auth.NewVerifier(auth.Rules{Secret: secret, ValidID: ValidID})
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, c := range codecs {
			token, ok := authToken(c, frame)
			if !ok {
				continue
			}
			if claims, err := verifier.Verify(token); err == nil && !ValidID(claims.Subject) {
				t.Fatalf("%s: accepted a token for agent %q", c.Name(), claims.Subject)
			}
		}
	})
}
