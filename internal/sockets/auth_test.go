package sockets

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

const jwtSecret = "a-test-secret-of-thirty-two-bytes"

// token signs claims with HS256 and jwtSecret.
func token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	return signToken(t, jwt.SigningMethodHS256, claims)
}

// signToken signs claims with method and jwtSecret.
func signToken(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// inAnHour is an exp that has not passed while a test runs.
func inAnHour() int64 { return time.Now().Add(time.Hour).Unix() }

func TestWebSocketToken(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.JWTSecret = jwtSecret })
	good := token(t, jwt.MapClaims{"sub": "p1", "groups": []string{"red"}, "exp": inAnHour()})

	// The token's sub wins over ?id=, and its groups are joined.
	cl := dialWS(t, n, "/ws?id=other&token="+good)
	if cl.id != "p1" {
		t.Fatalf("id %q, want the token's sub", cl.id)
	}
	if info, _ := n.srv.Agent("p1"); !slices.Equal(info.Groups, []string{"red"}) {
		t.Fatalf("groups %v", info.Groups)
	}

	// Authorization: Bearer works too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, n.wsURL("/ws"), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token(t, jwt.MapClaims{"sub": "p2", "exp": inAnHour()})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn.CloseNow()

	for name, query := range map[string]string{
		"no token":  "/ws?id=x",
		"bad token": "/ws?token=abc",
		"expired":   "/ws?token=" + token(t, jwt.MapClaims{"sub": "p1", "exp": time.Now().Add(-time.Minute).Unix()}),
	} {
		_, resp, err := websocket.Dial(ctx, n.wsURL(query), nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v %v, want 401", name, resp, err)
		}
	}
}

func TestTCPAuth(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.JWTSecret = jwtSecret })

	t.Run("good token", func(t *testing.T) {
		t.Parallel()
		cl := dialTCPRaw(t, n)
		cl.write(codec.Envelope{Type: "Auth", Data: []byte(`{"token":"` + token(t, jwt.MapClaims{"sub": "tcp1", "exp": inAnHour()}) + `"}`)})
		if w := cl.read(); w.Type != "Welcome" || !strings.Contains(string(w.Data), `"id":"tcp1"`) {
			t.Fatalf("got %+v, want Welcome for tcp1", w)
		}
	})
	for name, first := range map[string]codec.Envelope{
		"bad token":           {Type: "Auth", Data: []byte(`{"token":"abc"}`)},
		"no token in Auth":    {Type: "Auth", Data: []byte(`{}`)},
		"other message first": {Type: "Echo", Data: []byte(`{}`)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cl := dialTCPRaw(t, n)
			cl.write(first)
			expectRefusedTCP(t, cl)
		})
	}
	t.Run("no Auth within 5s", func(t *testing.T) {
		t.Parallel()
		cl := dialTCPRaw(t, n)
		cl.timeout = 10 * time.Second
		start := time.Now()
		if e := cl.read(); e.Type != "Error" || e.Code != 401 {
			t.Fatalf("got %+v, want Error 401", e)
		}
		if waited := time.Since(start); waited < 4*time.Second {
			t.Fatalf("refused after %v, before the 5 s allowed", waited)
		}
	})
}

// expectRefusedTCP reads the Error 401 that refuses a TCP client, then
// the end of the connection.
func expectRefusedTCP(t *testing.T, cl *tcpClient) {
	t.Helper()
	if e := cl.read(); e.Type != "Error" || e.Code != 401 {
		t.Fatalf("got %s %d %s, want Error 401", e.Type, e.Code, e.Data)
	}
	if _, err := cl.readFrameErr(); err == nil {
		t.Fatal("connection left open")
	}
}

// TestTokenRules: a token must carry exp, be HS256 (HS384 and HS512 with
// the right secret are refused too) and, when the node asks for them,
// carry its audience and issuer; on WebSocket (401 at the handshake) and
// on TCP (Error 401, then close) alike.
func TestTokenRules(t *testing.T) {
	const aud, iss = "game", "https://auth.example.com"
	n := startNode(t, func(c *config.Config) {
		c.JWTSecret = jwtSecret
		c.JWTAudience = aud
		c.JWTIssuer = iss
	})
	// claims are a good token's, changed by change.
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "rules", "exp": inAnHour(), "aud": aud, "iss": iss}
		if change != nil {
			change(c)
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		token  string
		accept bool
	}{
		{"good", token(t, claims(nil)), true},
		{"aud among others", token(t, claims(func(c jwt.MapClaims) { c["aud"] = []string{"web", aud} })), true},
		{"no exp", token(t, claims(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"HS384", signToken(t, jwt.SigningMethodHS384, claims(nil)), false},
		{"HS512", signToken(t, jwt.SigningMethodHS512, claims(nil)), false},
		{"no aud", token(t, claims(func(c jwt.MapClaims) { delete(c, "aud") })), false},
		{"other aud", token(t, claims(func(c jwt.MapClaims) { c["aud"] = "web" })), false},
		{"no iss", token(t, claims(func(c jwt.MapClaims) { delete(c, "iss") })), false},
		{"other iss", token(t, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" })), false},
	} {
		t.Run(tc.name+"/ws", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, resp, err := websocket.Dial(ctx, n.wsURL("/ws?token="+tc.token), nil)
			switch {
			case tc.accept && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.accept:
				conn.CloseNow()
			case err == nil:
				conn.CloseNow()
				t.Fatal("accepted, want 401")
			case resp == nil || resp.StatusCode != http.StatusUnauthorized:
				t.Fatalf("handshake: %v, want 401", err)
			}
		})
		t.Run(tc.name+"/tcp", func(t *testing.T) {
			cl := dialTCPRaw(t, n)
			cl.write(codec.Envelope{Type: "Auth", Data: []byte(`{"token":"` + tc.token + `"}`)})
			if !tc.accept {
				expectRefusedTCP(t, cl)
			} else if w := cl.read(); w.Type != "Welcome" {
				t.Fatalf("got %s %d %q, want Welcome", w.Type, w.Code, w.Msg)
			}
		})
	}
}

// envelopeClient is what wsClient and tcpClient have in common.
type envelopeClient interface {
	write(codec.Envelope)
	read() codec.Envelope
}

// echoUntilKicked keeps cl busy, an Echo every 100 ms, until the node
// sends Kicked, and returns its reason and when it came. It fails the test
// if no Kicked has come by deadline.
func echoUntilKicked(t *testing.T, cl envelopeClient, deadline time.Time) (string, time.Time) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		cl.write(codec.Envelope{Type: "Echo", Data: []byte(`{}`)})
		for {
			e := cl.read()
			if e.Type == "Kicked" {
				var d struct{ Reason string }
				if err := json.Unmarshal(e.Data, &d); err != nil { // the tests' clients speak JSON
					t.Fatalf("Kicked data %s: %v", e.Data, err)
				}
				return d.Reason, time.Now()
			}
			if e.Type == "Echo" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Kicked by %v", deadline.Format(time.TimeOnly))
		}
		<-tick.C
	}
}

// TestTokenExpiry: a session ends at its token's exp, busy or not: Kicked
// "token expired" within a second of exp (WebSocket close 1008), and
// agent.disconnected with that reason.
func TestTokenExpiry(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.JWTSecret = jwtSecret })
	// exp counts whole seconds: this one is 1–2 s ahead.
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
	tok := func(sub string) string { return token(t, jwt.MapClaims{"sub": sub, "exp": exp.Unix()}) }
	// checkKick checks that the Kicked came in time.
	checkKick := func(t *testing.T, reason string, at time.Time) {
		t.Helper()
		if reason != ReasonTokenExpired {
			t.Fatalf("Kicked %q, want %q", reason, ReasonTokenExpired)
		}
		if at.Before(exp) || at.After(exp.Add(time.Second)) {
			t.Fatalf("Kicked %v after exp, want within a second of it", at.Sub(exp))
		}
	}
	// checkAnnounced waits for the agent.disconnected of id, once the
	// connection has ended.
	checkAnnounced := func(t *testing.T, id string) {
		t.Helper()
		n.events.waitFor(t, func(e events.Event) bool {
			return e.Type == events.Disconnected && e.Agent == id && e.Reason == ReasonTokenExpired
		})
	}

	t.Run("ws", func(t *testing.T) {
		t.Parallel()
		cl := dialWS(t, n, "/ws?token="+tok("short-ws"))
		reason, at := echoUntilKicked(t, cl, exp.Add(3*time.Second))
		checkKick(t, reason, at)
		if code, _ := cl.expectClose(); code != websocket.StatusPolicyViolation {
			t.Fatalf("close %v, want 1008", code)
		}
		checkAnnounced(t, "short-ws")
	})
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		cl := dialTCPRaw(t, n)
		cl.write(codec.Envelope{Type: "Auth", Data: []byte(`{"token":"` + tok("short-tcp") + `"}`)})
		if w := cl.read(); w.Type != "Welcome" {
			t.Fatalf("got %+v, want Welcome", w)
		}
		reason, at := echoUntilKicked(t, cl, exp.Add(3*time.Second))
		checkKick(t, reason, at)
		cl.expectClose()
		checkAnnounced(t, "short-tcp")
	})
}
