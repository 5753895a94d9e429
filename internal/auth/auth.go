// Package auth owns the identity of clients and web services: client
// tokens (HS256 JWTs whose subject is the agent id and whose exp ends the
// session) and the API key that guards the REST API.
package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

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
	// Expires is when the token, and the session it opened, ends (exp).
	// It is zero only for the Claims of an anonymous client, which no
	// Verifier returns.
	Expires time.Time
}

// tokenClaims is the JWT payload a client token carries.
type tokenClaims struct {
	jwt.RegisteredClaims
	Groups []string `json:"groups,omitempty"`
}

// Rules are what a Verifier asks of a client token.
type Rules struct {
	// Secret is the HS256 key; the caller makes sure it is long enough
	// (config validation asks for 32 bytes).
	Secret string
	// Audience, when set, must be one of the token's aud.
	Audience string
	// Issuer, when set, must be the token's iss.
	Issuer string
	// ValidID reports whether a sub may name an agent, and a groups entry
	// a group.
	ValidID func(string) bool
}

// Verifier checks client tokens signed with one HS256 secret. It is safe
// for concurrent use.
type Verifier struct {
	secret  []byte
	parser  *jwt.Parser
	validID func(string) bool
}

// NewVerifier returns a verifier of tokens that follow r.
func NewVerifier(r Rules) *Verifier {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithLeeway(0),
		jwt.WithExpirationRequired(),
	}
	if r.Audience != "" {
		opts = append(opts, jwt.WithAudience(r.Audience))
	}
	if r.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(r.Issuer))
	}
	return &Verifier{secret: []byte(r.Secret), parser: jwt.NewParser(opts...), validID: r.ValidID}
}

// Verify checks token and returns its claims. A token passes when it is
// signed with HS256 and the secret (any other alg, none included, is
// refused), carries an exp still in the future (a token without exp is
// refused), an nbf (if any) already past, the audience and issuer the
// rules ask for, and a sub and groups that are valid ids.
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
	return Claims{Subject: c.Subject, Groups: c.Groups, Expires: c.ExpiresAt.Time}, nil
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
