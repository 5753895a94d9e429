package sockets

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

func TestReplaceSameID(t *testing.T) {
	n := startNode(t, nil)
	old := dialWS(t, n, "/ws?id=dup")
	fresh := dialWS(t, n, "/ws?id=dup")
	if code, reason := old.expectClose(); code != websocket.StatusNormalClosure || reason != ReasonReplaced {
		t.Fatalf("old closed with %v after Kicked %q", code, reason)
	}
	fresh.writeRaw(websocket.MessageText, seedEcho)
	if got := fresh.readRaw(); !bytes.Equal(got, seedEcho) {
		t.Fatalf("new agent's echo = %s", got)
	}
	// Presence stays right: the old one's departure comes before the new
	// one's arrival, and the new one is not reported gone.
	var seq []string
	for _, e := range n.events.snapshot() {
		if e.Agent == "dup" {
			seq = append(seq, e.Type+":"+e.Reason)
		}
	}
	want := []string{"agent.connected:", "agent.disconnected:replaced", "agent.connected:"}
	if strings.Join(seq, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", seq, want)
	}
	if n.srv.lookup("dup") == nil {
		t.Fatal("new agent unregistered")
	}
	// The ordered index keeps the newer session, whose read loop runs.
	if items, _ := n.srv.List("", "", 10); len(items) != 1 || items[0].ID != "dup" {
		t.Fatalf("listed %+v, want the one dup", items)
	}
}

func TestKick(t *testing.T) {
	n := startNode(t, nil)
	ws := dialWS(t, n, "/ws?id=k1")
	tcp := dialTCP(t, n)
	if err := n.srv.Kick("k1", ReasonKicked); err != nil {
		t.Fatal(err)
	}
	if code, reason := ws.expectClose(); code != websocket.StatusNormalClosure || reason != ReasonKicked {
		t.Fatalf("closed with %v after Kicked %q", code, reason)
	}
	if err := n.srv.Kick(tcp.id, "cheating"); err != nil {
		t.Fatal(err)
	}
	if reason := tcp.expectClose(); reason != "cheating" {
		t.Fatalf("Kicked %q, want cheating", reason)
	}
	n.events.waitFor(t, func(e events.Event) bool {
		return e.Type == events.Disconnected && e.Agent == tcp.id && e.Reason == "cheating"
	})
	if err := n.srv.Kick("nobody", ReasonKicked); err != ErrAgentNotFound {
		t.Fatalf("kick nobody: %v", err)
	}
}

// TestKickUnresponsiveClient: a client that never answers the close
// handshake is cut after closeGrace, not after the library's 5 s.
func TestKickUnresponsiveClient(t *testing.T) {
	n := startNode(t, nil)
	dialWS(t, n, "/ws?id=deaf") // never reads again
	start := time.Now()
	n.srv.Kick("deaf", ReasonKicked)
	n.events.waitFor(t, func(e events.Event) bool { return e.Type == events.Disconnected && e.Agent == "deaf" })
	if took := time.Since(start); took > closeGrace+time.Second {
		t.Fatalf("agent gone after %v, want about %v", took, closeGrace)
	}
}

func TestClientCloseIsReported(t *testing.T) {
	n := startNode(t, nil)
	cl := dialWS(t, n, "/ws?id=leaver")
	cl.conn.Close(websocket.StatusNormalClosure, "bye")
	n.events.waitFor(t, func(e events.Event) bool {
		return e.Type == events.Disconnected && e.Agent == "leaver" && e.Reason == ReasonClientClosed
	})
}

func TestShutdown(t *testing.T) {
	n := startNode(t, nil)
	ws := dialWS(t, n, "/ws")
	tcp := dialTCP(t, n)
	done := make(chan error, 1)
	go func() { done <- n.srv.Shutdown(context.Background()) }()
	if code, reason := ws.expectClose(); code != websocket.StatusGoingAway || reason != ReasonShutdown {
		t.Fatalf("closed with %v after Kicked %q, want 1001 after shutdown", code, reason)
	}
	if reason := tcp.expectClose(); reason != ReasonShutdown {
		t.Fatalf("TCP Kicked %q", reason)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// New clients are refused.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, n.wsURL("/ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v %v", resp, err)
	}
}

func TestMaxConns(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.MaxConns = 2 })
	dialWS(t, n, "/ws")
	dialTCP(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, n.wsURL("/ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third WS: %v %v, want 503", resp, err)
	}
	cl := dialTCPRaw(t, n)
	if e := cl.read(); e.Type != "Error" || e.Code != 503 {
		t.Fatalf("third TCP got %+v, want Error 503", e)
	}
	if _, err := cl.readFrameErr(); err == nil {
		t.Fatal("third TCP connection left open")
	}
}

func TestHandshakeRefusals(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.AllowedOrigins = []string{"game.example.com"} })
	for _, tc := range []struct {
		name, path string
		header     http.Header
		status     int
	}{
		{"bad id", "/ws?id=" + strings.Repeat("a", 129), nil, 400},
		{"id with a slash", "/ws?id=a/b", nil, 400},
		{"empty id", "/ws?id=", nil, 400},
		{"unknown codec", "/ws?codec=xml", nil, 400},
		{"foreign origin", "/ws", http.Header{"Origin": {"https://evil.example.com"}}, 403},
		{"allowed origin", "/ws", http.Header{"Origin": {"https://game.example.com"}}, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, resp, err := websocket.Dial(ctx, n.wsURL(tc.path), &websocket.DialOptions{HTTPHeader: tc.header})
			if conn != nil {
				conn.CloseNow()
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("status %v (err %v), want %d", resp, err, tc.status)
			}
		})
	}
}

func TestRemoteAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name, peer string
		xff        []string // X-Forwarded-For lines, in order
		realIP     string
		want       string
	}{
		{"untrusted peer keeps its address", "203.0.113.9:5000", []string{"1.2.3.4"}, "", "203.0.113.9:5000"},
		{"trusted peer, one hop", "10.0.0.2:5000", []string{"198.51.100.7"}, "", "198.51.100.7"},
		{"rightmost untrusted wins", "10.0.0.2:5000", []string{"1.1.1.1, 198.51.100.7, 10.0.0.3"}, "", "198.51.100.7"},
		{"several headers read as one list", "[::1]:5000", []string{"1.1.1.1", "198.51.100.7, 10.0.0.3"}, "", "198.51.100.7"},
		{"X-Real-IP when no XFF", "10.0.0.2:5000", nil, "198.51.100.8", "198.51.100.8"},
		{"garbage XFF falls back", "10.0.0.2:5000", []string{"not-an-ip"}, "", "10.0.0.2:5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, line := range tc.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			if tc.realIP != "" {
				r.Header.Set("X-Real-IP", tc.realIP)
			}
			if got := remoteAddr(r, trusted); got != tc.want {
				t.Fatalf("remoteAddr = %q, want %q", got, tc.want)
			}
		})
	}
	if got := remoteAddr(&http.Request{RemoteAddr: "10.0.0.2:1", Header: http.Header{"X-Forwarded-For": {"1.2.3.4"}}}, nil); got != "10.0.0.2:1" {
		t.Fatalf("no trusted proxies: %q", got)
	}
}

// TestSameOriginByDefault: without --allowed-origins, a browser page may
// open a WebSocket only from the node's own host; any other Origin gets
// 403 at the handshake. Clients that send no Origin are not browsers, and
// are let in.
func TestSameOriginByDefault(t *testing.T) {
	n := startNode(t, nil)
	host := strings.TrimPrefix(n.httpURL, "http://")
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"http://" + host, http.StatusSwitchingProtocols},
		{"", http.StatusSwitchingProtocols},
		{"https://evil.example.com", http.StatusForbidden},
		{"http://" + host + ".evil.example.com", http.StatusForbidden},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			header := http.Header{}
			if tc.origin != "" {
				header.Set("Origin", tc.origin)
			}
			conn, resp, err := websocket.Dial(ctx, n.wsURL("/ws"), &websocket.DialOptions{HTTPHeader: header})
			if conn != nil {
				conn.CloseNow()
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("status %v (err %v), want %d", resp, err, tc.status)
			}
		})
	}
}

// TestManyAgents connects 1,000 agents over both transports, echoes on
// each and disconnects them; goleak (TestMain) then checks nothing is left.
func TestManyAgents(t *testing.T) {
	n := startNode(t, nil)
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			if i%2 == 0 {
				cl := dialWS(t, n, "/ws")
				cl.writeRaw(websocket.MessageText, seedEcho)
				if got := cl.readRaw(); !bytes.Equal(got, seedEcho) {
					t.Errorf("echo = %s", got)
				}
				cl.conn.Close(websocket.StatusNormalClosure, "")
			} else {
				cl := dialTCP(t, n)
				cl.writeFrame(seedEcho)
				if got := cl.readRaw(); !bytes.Equal(got, seedEcho) {
					t.Errorf("echo = %s", got)
				}
				cl.conn.Close()
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for n.srv.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := n.srv.Len(); got != 0 {
		t.Fatalf("%d agents still registered", got)
	}
}

// TestWebSocketControlFrames: the library still answers a client's
// WebSocket ping, and a close with the longest reason a close frame can
// carry arrives whole, through the small control-frame buffer.
func TestWebSocketControlFrames(t *testing.T) {
	n := startNode(t, nil)
	cl := dialWS(t, n, "/ws?id=ctl")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	read := make(chan error, 1)
	go func() {
		_, _, err := cl.conn.Read(ctx) // pongs are handled while reading
		read <- err
	}()
	if err := cl.conn.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	reason := strings.Repeat("r", 123)
	n.srv.Kick("ctl", reason)
	<-read // the Kicked frame
	_, _, err := cl.conn.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure || ce.Reason != reason {
		t.Fatalf("close %v, want 1000 with the 123-byte reason", err)
	}
}

// TestTrustedProxyAddress: behind a trusted proxy, an agent's remote
// address is the client's, from X-Forwarded-For; otherwise the peer's.
func TestTrustedProxyAddress(t *testing.T) {
	for _, tc := range []struct {
		name, trusted, want string
	}{
		{"trusted", "127.0.0.0/8", "198.51.100.7"},
		{"untrusted", "10.0.0.0/8", "127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, func(c *config.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(tc.trusted)} })
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, n.wsURL("/ws?id=behind"), &websocket.DialOptions{
				HTTPHeader: http.Header{"X-Forwarded-For": {"203.0.113.1, 198.51.100.7"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			conn.Read(ctx) // Welcome: the agent is registered
			info, err := n.srv.Agent("behind")
			if err != nil || !strings.HasPrefix(info.RemoteAddr, tc.want) {
				t.Fatalf("remote address %q (%v), want %s…", info.RemoteAddr, err, tc.want)
			}
		})
	}
}
