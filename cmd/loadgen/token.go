package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenTTL is how long the tokens loadgen mints stay valid: far longer
// than any run, so that no session ends with "token expired".
const tokenTTL = 24 * time.Hour

// minter makes client tokens for a node started with --jwt-secret: HS256
// JWTs whose sub is the agent id and whose exp is required (DESIGN §5).
// It is safe for concurrent use.
type minter struct {
	secret []byte
}

// token returns a valid token for agent id.
func (m minter) token(id string) (string, error) {
	return m.sign(jwt.SigningMethodHS256, m.secret, jwt.MapClaims{"sub": id, "exp": time.Now().Add(tokenTTL).Unix()})
}

// sign makes a token with the given method, key and claims.
func (m minter) sign(method jwt.SigningMethod, key any, claims jwt.MapClaims) (string, error) {
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing a token: %w", err)
	}
	return s, nil
}

// badToken is a token the node must refuse, and why.
type badToken struct {
	why   string
	token string
}

// badTokens returns tokens a node with m's secret must refuse, each for
// another reason, all for agent id: none at all, garbage, the wrong
// secret, expired, no exp, alg none, the right secret under HS512, and a
// sub that is no valid agent id.
func (m minter) badTokens(id string) ([]badToken, error) {
	exp := time.Now().Add(tokenTTL).Unix()
	wrong := []byte(strings.Repeat("w", len(m.secret)))
	bad := []badToken{{"no token", ""}, {"garbage", "not.a.jwt"}}
	for _, t := range []struct {
		why    string
		method jwt.SigningMethod
		key    any
		claims jwt.MapClaims
	}{
		{"wrong secret", jwt.SigningMethodHS256, wrong, jwt.MapClaims{"sub": id, "exp": exp}},
		{"expired", jwt.SigningMethodHS256, m.secret, jwt.MapClaims{"sub": id, "exp": time.Now().Add(-time.Minute).Unix()}},
		{"no exp", jwt.SigningMethodHS256, m.secret, jwt.MapClaims{"sub": id}},
		{"alg none", jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": id, "exp": exp}},
		{"HS512", jwt.SigningMethodHS512, m.secret, jwt.MapClaims{"sub": id, "exp": exp}},
		{"invalid sub", jwt.SigningMethodHS256, m.secret, jwt.MapClaims{"sub": "no spaces allowed", "exp": exp}},
	} {
		s, err := m.sign(t.method, t.key, t.claims)
		if err != nil {
			return nil, err
		}
		bad = append(bad, badToken{t.why, s})
	}
	return bad, nil
}
