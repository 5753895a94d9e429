package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "a-test-secret-of-thirty-two-bytes"

func validID(s string) bool { return s != "" && len(s) <= 128 && s != "bad id" }

// sign makes a token with the given method, key and claims.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	plain := NewVerifier(Rules{Secret: secret, ValidID: validID})
	scoped := NewVerifier(Rules{Secret: secret, Audience: "game", Issuer: "https://auth.example.com", ValidID: validID})
	future := time.Now().Add(time.Hour).Truncate(time.Second)
	exp := future.Unix()
	past := time.Now().Add(-time.Minute).Unix()
	hs256 := func(claims jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(secret), claims) }

	good := hs256(jwt.MapClaims{"sub": "p1", "exp": exp, "groups": []string{"red", "blue"}})
	c, err := plain.Verify(good)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Claims{Subject: "p1", Groups: []string{"red", "blue"}, Expires: future}); !reflect.DeepEqual(c, want) {
		t.Fatalf("claims %+v, want %+v", c, want)
	}
	for name, token := range map[string]string{
		"aud and iss":    hs256(jwt.MapClaims{"sub": "p2", "exp": exp, "aud": "game", "iss": "https://auth.example.com"}),
		"aud among many": hs256(jwt.MapClaims{"sub": "p2", "exp": exp, "aud": []string{"web", "game"}, "iss": "https://auth.example.com"}),
	} {
		if c, err := scoped.Verify(token); err != nil || c.Subject != "p2" {
			t.Errorf("%s: %+v, %v", name, c, err)
		}
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "p1", "exp": exp})
	for _, tc := range []struct {
		name  string
		v     *Verifier
		token string
	}{
		{"empty", plain, ""},
		{"garbage", plain, "not.a.token"},
		{"wrong secret", plain, sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-thirty-two-byte"), jwt.MapClaims{"sub": "p1", "exp": exp})},
		{"no exp", plain, hs256(jwt.MapClaims{"sub": "p1"})},
		{"expired", plain, hs256(jwt.MapClaims{"sub": "p1", "exp": past})},
		{"not yet valid", plain, hs256(jwt.MapClaims{"sub": "p1", "exp": exp, "nbf": exp - 60})},
		{"alg none", plain, none},
		{"RS256", plain, sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "p1", "exp": exp})},
		{"HS384", plain, sign(t, jwt.SigningMethodHS384, []byte(secret), jwt.MapClaims{"sub": "p1", "exp": exp})},
		{"HS512", plain, sign(t, jwt.SigningMethodHS512, []byte(secret), jwt.MapClaims{"sub": "p1", "exp": exp})},
		{"no sub", plain, hs256(jwt.MapClaims{"exp": exp})},
		{"bad sub", plain, hs256(jwt.MapClaims{"sub": "bad id", "exp": exp})},
		{"bad group", plain, hs256(jwt.MapClaims{"sub": "p1", "exp": exp, "groups": []string{"bad id"}})},
		{"no aud", scoped, hs256(jwt.MapClaims{"sub": "p1", "exp": exp, "iss": "https://auth.example.com"})},
		{"other aud", scoped, hs256(jwt.MapClaims{"sub": "p1", "exp": exp, "aud": "web", "iss": "https://auth.example.com"})},
		{"no iss", scoped, hs256(jwt.MapClaims{"sub": "p1", "exp": exp, "aud": "game"})},
		{"other iss", scoped, hs256(jwt.MapClaims{"sub": "p1", "exp": exp, "aud": "game", "iss": "https://evil.example.com"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.v.Verify(tc.token); err == nil {
				t.Fatal("accepted")
			} else if tc.token == "" && !errors.Is(err, ErrNoToken) {
				t.Fatalf("err = %v, want ErrNoToken", err)
			}
		})
	}
}

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		matches       bool
	}{
		{"Bearer k3y", "k3y", true},
		{"bearer k3y", "k3y", true},
		{"Bearer k3", "k3", false},
		{"Basic k3y", "", false},
		{"k3y", "", false},
		{"", "", false},
	} {
		r := &http.Request{Header: http.Header{}}
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := BearerToken(r); got != tc.token {
			t.Errorf("BearerToken(%q) = %q, want %q", tc.header, got, tc.token)
		}
		if got := KeyMatches(r, "k3y"); got != tc.matches {
			t.Errorf("KeyMatches(%q) = %v", tc.header, got)
		}
	}
}
