package sockets

import (
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// FuzzHandshakeMatchesLibrary: the node answers a WebSocket handshake as
// coder/websocket's Accept would — DESIGN defines --allowed-origins as
// its OriginPatterns, and clients written against it expect its statuses
// — refusing the same requests with the same status and the headers that
// say what to fix, and accepting the same ones.
func FuzzHandshakeMatchesLibrary(f *testing.F) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	f.Add("GET", "Upgrade", "websocket", "13", key, "", "node.example.com", "")
	f.Add("GET", "keep-alive, Upgrade", "WebSocket", "13", key, "https://a.example.com", "node.example.com", "*.example.com")
	f.Add("GET", "Upgrade", "websocket", "13", key, "https://a.example.com", "node.example.com", "https://*.example.com")
	f.Add("GET", "Upgrade", "websocket", "13", key, "http://a.example.com", "node.example.com", "https://*.example.com")
	f.Add("GET", "Upgrade", "websocket", "13", key, "https://example.org", "node.example.com", "*.example.com")
	f.Add("GET", "Upgrade", "websocket", "13", key, "https://NODE.example.com", "node.example.com", "")
	f.Add("GET", "Upgrade", "websocket", "13", key, "null", "node.example.com", "*")
	f.Add("GET", "Upgrade", "websocket", "13", key, "%zz", "node.example.com", "")
	f.Add("POST", "Upgrade", "websocket", "13", key, "", "node.example.com", "")
	f.Add("GET", "close", "websocket", "13", key, "", "node.example.com", "")
	f.Add("GET", "Upgrade", "h2c", "13", key, "", "node.example.com", "")
	f.Add("GET", "Upgrade", "websocket", "8", key, "", "node.example.com", "")
	f.Add("GET", "Upgrade", "websocket", "13", "c2hvcnQ=", "", "node.example.com", "")
	f.Add("GET", "Upgrade", "websocket", "13", " "+key+" ", "", "node.example.com", "")
	f.Fuzz(func(t *testing.T, method, connection, upgrade, version, wsKey, origin, host, patterns string) {
		var originPatterns []string
		if patterns != "" {
			originPatterns = strings.Split(patterns, ",")
		}
		for _, p := range originPatterns {
			if _, err := path.Match(p, ""); err != nil {
				return // the node refuses to start with it (config.Validate)
			}
		}
		request := func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/ws", nil)
			r.Method, r.Host = method, host
			for name, value := range map[string]string{
				"Connection": connection, "Upgrade": upgrade, "Sec-WebSocket-Version": version,
				"Sec-WebSocket-Key": wsKey, "Origin": origin,
			} {
				if value != "" {
					r.Header.Set(name, value)
				}
			}
			return r
		}

		ours := httptest.NewRecorder()
		acceptWebSocket(ours, request(), nil, originPatterns)
		theirs := httptest.NewRecorder()
		websocket.Accept(theirs, request(), &websocket.AcceptOptions{OriginPatterns: originPatterns})

		// A recorder cannot be hijacked: having passed every check, the
		// node has answered 101 and the library 501.
		want := theirs.Code
		if want == http.StatusNotImplemented {
			want = http.StatusSwitchingProtocols
		}
		if ours.Code != want {
			t.Fatalf("node answered %d, library %d (%q)", ours.Code, theirs.Code, strings.TrimSpace(theirs.Body.String()))
		}
		if want == http.StatusSwitchingProtocols {
			return
		}
		for _, h := range []string{"Connection", "Upgrade", "Sec-WebSocket-Version"} {
			if got, lib := ours.Header().Get(h), theirs.Header().Get(h); got != lib {
				t.Errorf("%d with %s %q, library %q", want, h, got, lib)
			}
		}
	})
}
