// Package auth owns the identity of clients and web services: client
// tokens (HS256 JWTs whose subject is the agent id) and the API key that
// guards the REST API.
package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// ErrNoToken means a client presented no token.
var ErrNoToken = errors.New("missing token")

// Claims is what a valid client token says.
type Claims struct {
	// Subject is the agent id (the token's sub).
	Subject string
	// Groups are groups the agent joins on connect (the groups claim).
	Groups []string
}

// tokenClaims is the JWT payload a client token carries.
type tokenClaims struct {
	jwt.RegisteredClaims
	Groups []string `json:"groups,omitempty"`
}

// Verifier checks client tokens signed with one HS256 secret. It is safe
// for concurrent use.
type Verifier struct {
	secret []byte
	parser *jwt.Parser
	// validID reports whether a subject may name an agent.
	validID func(string) bool
}

// NewVerifier returns a verifier for tokens signed with secret whose
// subject passes validID.
func NewVerifier(secret string, validID func(string) bool) *Verifier {
	return &Verifier{
		secret:  []byte(secret),
		parser:  jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithLeeway(0)),
		validID: validID,
	}
}

// Verify checks token's HS256 signature, its exp (when present) and nbf,
// and that it names a valid agent id, and returns its claims. Tokens with
// any other alg, none included, are refused.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrNoToken
	}
	var c tokenClaims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.secret, nil })
	if err != nil {
		return Claims{}, fmt.Errorf("invalid token: %w", err)
	}
	if !v.validID(c.Subject) {
		return Claims{}, fmt.Errorf("invalid token: sub %q is not a valid agent id", c.Subject)
	}
	for _, g := range c.Groups {
		if !v.validID(g) {
			return Claims{}, fmt.Errorf("invalid token: group %q is not a valid group name", g)
		}
	}
	return Claims{Subject: c.Subject, Groups: c.Groups}, nil
}

// BearerToken returns the token of an "Authorization: Bearer" header, or "".
func BearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// KeyMatches reports, in constant time, whether r carries the API key.
func KeyMatches(r *http.Request, key string) bool {
	return subtle.ConstantTimeCompare([]byte(BearerToken(r)), []byte(key)) == 1
}
