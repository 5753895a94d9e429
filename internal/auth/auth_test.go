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

const secret = "test-secret"

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
	v := NewVerifier(secret, validID)
	future := time.Now().Add(time.Hour).Unix()
	past := time.Now().Add(-time.Minute).Unix()

	good := sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "p1", "exp": future, "groups": []string{"red", "blue"}})
	c, err := v.Verify(good)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Claims{Subject: "p1", Groups: []string{"red", "blue"}}); !reflect.DeepEqual(c, want) {
		t.Fatalf("claims %+v, want %+v", c, want)
	}
	if c, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "p2"})); err != nil || c.Subject != "p2" {
		t.Fatalf("token without exp: %+v, %v", c, err)
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "p1", "exp": future})
	for _, tc := range []struct{ name, token string }{
		{"empty", ""},
		{"garbage", "not.a.token"},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("other"), jwt.MapClaims{"sub": "p1", "exp": future})},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "p1", "exp": past})},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "p1", "nbf": future})},
		{"alg none", none},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "p1", "exp": future})},
		{"HS512", sign(t, jwt.SigningMethodHS512, []byte(secret), jwt.MapClaims{"sub": "p1", "exp": future})},
		{"no sub", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": future})},
		{"bad sub", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "bad id"})},
		{"bad group", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "p1", "groups": []string{"bad id"}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(tc.token); err == nil {
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
