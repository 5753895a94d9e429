package httpapi

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hotpot-rt/hotpot/internal/config"
)

func TestAPIKey(t *testing.T) {
	t.Parallel()
	const key = "s3cret-key"
	n := startNode(t, func(cfg *config.Config) { cfg.APIKey = key })

	cases := []struct {
		method, path, body string
		public             bool
	}{
		{http.MethodGet, "/agents", "", false},
		{http.MethodGet, "/agents/u1", "", false},
		{http.MethodDelete, "/agents/u1", "", false},
		{http.MethodPost, "/agents/u1/call", `{"type":"X"}`, false},
		{http.MethodPost, "/agents/u1/events", `{"type":"X"}`, false},
		{http.MethodPut, "/agents/u1/groups/g", "", false},
		{http.MethodPost, "/groups/g/events", `{"type":"X"}`, false},
		{http.MethodPost, "/broadcast", `{"type":"X"}`, false},
		{http.MethodGet, "/nodes", "", false},
		{http.MethodGet, "/metrics", "", false},
		{http.MethodGet, "/events?types=bogus", "", false},
		{http.MethodGet, "/healthz", "", true},
		{http.MethodGet, "/readyz", "", true},
		{http.MethodGet, "/openapi.yaml", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			for _, auth := range []string{"", "Bearer wrong", "Bearer " + key + "x", "Basic " + key, key, "Bearer " + key} {
				req, err := http.NewRequestWithContext(t.Context(), tc.method, n.url+tc.path, strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := n.httpClient(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				refused := resp.StatusCode == http.StatusUnauthorized
				if want := !tc.public && auth != "Bearer "+key; refused != want {
					t.Errorf("Authorization %q: %s, want refused %v", auth, resp.Status, want)
				}
				if refused && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 with WWW-Authenticate %q, want Bearer", resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}

	t.Run("the generated client", func(t *testing.T) {
		t.Parallel()
		res, err := n.clientWithKey(t, "").ListAgentsWithResponse(t.Context(), nil)
		if err != nil || res.ApplicationProblemJSON401 == nil || res.Headers401 == nil || res.Headers401.WWWAuthenticate == nil {
			t.Errorf("without a key: %v %s, want 401 with WWW-Authenticate", err, res.Status())
		}
		res, err = n.client(t).ListAgentsWithResponse(t.Context(), nil)
		if err != nil || res.JSON200 == nil {
			t.Errorf("with the key: %v %s, want 200", err, res.Status())
		}
	})

	t.Run("the event stream", func(t *testing.T) {
		t.Parallel()
		openEvents(t, n, nil) // with the key: 200 text/event-stream
	})

	t.Run("WebSocket clients need no API key", func(t *testing.T) {
		t.Parallel()
		cli := dialWS(t, n, "?id=nokey")
		if cli.id != "nokey" {
			t.Errorf("Welcome id %q", cli.id)
		}
	})
}

// The web UI's files need no API key: the UI asks for it. (A WebSocket
// upgrade at / reaches the agents' endpoint: cmd/server's tests dial it.)
func TestWebUINeedsNoKey(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) { cfg.APIKey = "s3cret-key" })
	plain := &http.Client{Transport: n.transport} // the UI is not part of api/openapi.yaml
	for path, contentType := range map[string]string{
		"/":                "text/html; charset=utf-8",
		"/playground":      "text/html; charset=utf-8",
		"/demo/framesync":  "text/html; charset=utf-8",
		"/hotpot.js":       "text/javascript; charset=utf-8",
		"/style.css":       "text/css; charset=utf-8",
		"/index.html":      "application/problem+json",
		"/no/such/page.js": "application/problem+json",
	} {
		resp, err := plain.Get(n.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wantStatus := http.StatusOK
		if contentType == "application/problem+json" {
			wantStatus = http.StatusNotFound
		}
		if resp.StatusCode != wantStatus || resp.Header.Get("Content-Type") != contentType {
			t.Errorf("GET %s: %s %q, want %d %q", path, resp.Status, resp.Header.Get("Content-Type"), wantStatus, contentType)
		}
	}
}

// TestClientTokens: a valid token names the agent and its groups; any
// other is refused with 401 at the handshake, a token signed with the
// right secret but HS384 or HS512 included.
func TestClientTokens(t *testing.T) {
	t.Parallel()
	const secret = "jwt-secret-for-tests-of-32-bytes"
	n := startNode(t, func(cfg *config.Config) { cfg.JWTSecret = secret })
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		t.Helper()
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hour := time.Now().Add(time.Hour).Unix()
	valid := sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "u42", "exp": hour, "groups": []string{"vip"}})

	t.Run("a valid token names the agent", func(t *testing.T) {
		cli := dialWS(t, n, "?id=other&token="+valid) // sub wins over ?id=
		if cli.id != "u42" {
			t.Fatalf("Welcome id %q, want u42", cli.id)
		}
		res, err := n.client(t).GetAgentWithResponse(t.Context(), "u42")
		if err != nil || res.JSON200 == nil || len(res.JSON200.Groups) != 1 || res.JSON200.Groups[0] != "vip" {
			t.Errorf("GET /agents/u42: %v %s, want groups [vip] from the token", err, res.Body)
		}
	})
	t.Run("in the Authorization header", func(t *testing.T) {
		tok := sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "hdr", "exp": hour})
		conn, _, err := dialWSRaw(t, n, "", http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatalf("dial with a token in the header: %v", err)
		}
		cli := &wsClient{t: t, conn: conn, codec: "json"}
		m := cli.recv()
		var d welcomeData
		json.Unmarshal(m.Data, &d)
		if m.Type != "Welcome" || d.ID != "hdr" {
			t.Errorf("got %s %s, want Welcome for hdr", m.Type, m.Data)
		}
	})

	refused := map[string]string{
		"no token":     "",
		"no exp":       sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "u1"}),
		"expired":      sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(-time.Minute).Unix()}),
		"alg none":     sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "u1", "exp": hour}),
		"RS256":        sign(jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "u1", "exp": hour}),
		"HS384":        sign(jwt.SigningMethodHS384, []byte(secret), jwt.MapClaims{"sub": "u1", "exp": hour}),
		"HS512":        sign(jwt.SigningMethodHS512, []byte(secret), jwt.MapClaims{"sub": "u1", "exp": hour}),
		"wrong secret": sign(jwt.SigningMethodHS256, []byte("not the secret"), jwt.MapClaims{"sub": "u1", "exp": hour}),
		"bad sub":      sign(jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a b", "exp": hour}),
		"garbage":      "not.a.jwt",
	}
	for name, tok := range refused {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			query := ""
			if tok != "" {
				query = "?token=" + tok
			}
			_, resp, err := dialWSRaw(t, n, query, nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Errorf("handshake: %v, HTTP %d, want 401", err, status)
			}
		})
	}
}
