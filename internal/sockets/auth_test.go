package sockets

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
)

const jwtSecret = "s3cret"

func token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWebSocketToken(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.JWTSecret = jwtSecret })
	good := token(t, jwt.MapClaims{"sub": "p1", "groups": []string{"red"}, "exp": time.Now().Add(time.Hour).Unix()})

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
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token(t, jwt.MapClaims{"sub": "p2"})}},
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
		cl.write(codec.Envelope{Type: "Auth", Data: []byte(`{"token":"` + token(t, jwt.MapClaims{"sub": "tcp1"}) + `"}`)})
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
			if e := cl.read(); e.Type != "Error" || e.Code != 401 {
				t.Fatalf("got %+v, want Error 401", e)
			}
			if _, err := cl.readFrameErr(); err == nil {
				t.Fatal("connection left open")
			}
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
