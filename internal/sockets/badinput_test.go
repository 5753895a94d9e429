package sockets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

// badFrames each earn an Error 400 and leave the connection working.
var badFrames = []struct {
	name  string
	frame []byte
}{
	{"invalid JSON", []byte(`{"type":"Echo",`)},
	{"missing type", []byte(`{"data":{}}`)},
	{"empty type", []byte(`{"type":""}`)},
	{"type over 128 bytes", []byte(`{"type":"` + strings.Repeat("t", 129) + `"}`)},
	{"array", []byte(`[{"type":"Echo"}]`)},
	{"string", []byte(`"Echo"`)},
	{"binary garbage", []byte{0xff, 0x00, 0x9c, 0x81, 0x02}},
}

func TestBadFramesWebSocket(t *testing.T) {
	n := startNode(t, nil)
	cl := dialWS(t, n, "/ws")
	for _, tc := range badFrames {
		t.Run(tc.name, func(t *testing.T) {
			typ := websocket.MessageText
			if tc.name == "binary garbage" {
				typ = websocket.MessageBinary
			}
			cl.writeRaw(typ, tc.frame)
			e := cl.read()
			if e.Type != "Error" || e.Code != 400 || e.Msg == "" {
				t.Fatalf("got %+v, want Error 400 with a message", e)
			}
			cl.writeRaw(websocket.MessageText, seedEcho)
			if got := cl.readRaw(); !bytes.Equal(got, seedEcho) {
				t.Fatalf("after bad frame, echo = %s", got)
			}
		})
	}
}

func TestBadFramesTCP(t *testing.T) {
	n := startNode(t, nil)
	cl := dialTCP(t, n)
	frames := append(badFrames[:len(badFrames):len(badFrames)], struct {
		name  string
		frame []byte
	}{"zero-length frame", nil})
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			if tc.frame == nil {
				cl.writeRaw([]byte{0, 0})
			} else {
				cl.writeFrame(tc.frame)
			}
			e := cl.read()
			if e.Type != "Error" || e.Code != 400 || e.Msg == "" {
				t.Fatalf("got %+v, want Error 400 with a message", e)
			}
			cl.writeFrame(seedEcho)
			if got := cl.readRaw(); !bytes.Equal(got, seedEcho) {
				t.Fatalf("after bad frame, echo = %s", got)
			}
		})
	}
}

func TestOversizeWebSocketFrame(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.MaxMessageBytes = 1024 })
	other := dialWS(t, n, "/ws")
	cl := dialWS(t, n, "/ws?id=big")
	cl.writeRaw(websocket.MessageText, []byte(`{"type":"Echo","data":"`+strings.Repeat("x", 2000)+`"}`))
	code, kicked := cl.expectClose()
	if code != websocket.StatusMessageTooBig || kicked != ReasonTooBig {
		t.Fatalf("close status %v after Kicked %q, want 1009 after Kicked %q", code, kicked, ReasonTooBig)
	}
	n.events.waitFor(t, func(e events.Event) bool {
		return e.Type == events.Disconnected && e.Agent == "big" && e.Reason == ReasonTooBig
	})
	other.writeRaw(websocket.MessageText, seedEcho)
	if got := other.readRaw(); !bytes.Equal(got, seedEcho) {
		t.Fatalf("other agent's echo = %s", got)
	}
}

func TestOversizeTCPPrefix(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.MaxMessageBytes = 1024; c.TCPLenBytes = 4 })
	other := dialTCP(t, n)
	cl := dialTCP(t, n)
	cl.writeRaw([]byte{0, 0, 0x10, 0}) // 4096 bytes announced
	cl.writeRaw(bytes.Repeat([]byte("x"), 100))
	if reason := cl.expectClose(); reason != ReasonTooBig {
		t.Fatalf("Kicked reason %q, want %q", reason, ReasonTooBig)
	}
	other.writeFrame(seedEcho)
	if got := other.readRaw(); !bytes.Equal(got, seedEcho) {
		t.Fatalf("other agent's echo = %s", got)
	}
}

// TestTCPGarbage throws random bytes, half-open connections and floods of
// garbage frames at the TCP port while a well-behaved client keeps
// echoing.
func TestTCPGarbage(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.MaxMessageBytes = 4096 })
	good := dialTCP(t, n)

	var wg sync.WaitGroup
	// Random bytes, then hang up.
	for range 10 {
		wg.Go(func() {
			conn, err := net.Dial("tcp", n.tcpAddr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			junk := make([]byte, 8192)
			rand.Read(junk)
			conn.Write(junk)
		})
	}
	// Half-open: connect, send half a frame, never finish.
	for range 10 {
		cl := dialTCPRaw(t, n)
		cl.writeRaw([]byte{0, 50, '{'})
	}
	// 20 connections × 200 well-framed garbage frames.
	for range 20 {
		wg.Go(func() {
			conn, err := net.Dial("tcp", n.tcpAddr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			go discard(conn)
			var buf []byte
			for range 200 {
				junk := make([]byte, 1+len(buf)%200)
				rand.Read(junk)
				buf = appendFrame(buf, junk, 2)
			}
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write(buf); err != nil {
				t.Error(err)
			}
		})
	}
	for range 50 {
		good.writeFrame(seedEcho)
		if got := good.readRaw(); !bytes.Equal(got, seedEcho) {
			t.Fatalf("echo = %s", got)
		}
	}
	wg.Wait()
	good.writeFrame(seedEcho)
	if got := good.readRaw(); !bytes.Equal(got, seedEcho) {
		t.Fatalf("echo = %s", got)
	}
}

func discard(conn net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

// TestSlowConsumer pushes to a client that stopped reading until its
// queue overflows: it is closed as a slow consumer, others are not.
func TestSlowConsumer(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.SendQueue = 8 })
	other := dialWS(t, n, "/ws")
	slow := dialTCP(t, n) // never reads again
	big := []byte(`{"blob":"` + strings.Repeat("x", 60000) + `"}`)
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		// Paced so that a client that reads would keep up.
		err = n.srv.Push(slow.id, "Flood", codec.Payload{JSON: big})
		time.Sleep(time.Millisecond)
	}
	if err != ErrQueueFull {
		t.Fatalf("push error %v, want ErrQueueFull", err)
	}
	n.events.waitFor(t, func(e events.Event) bool {
		return e.Type == events.Disconnected && e.Agent == slow.id && e.Reason == ReasonSlowConsumer
	})
	if err := n.srv.Push(slow.id, "Flood", codec.Payload{JSON: big}); err != ErrAgentNotFound && err != ErrAgentGone {
		t.Fatalf("push after close: %v", err)
	}
	if err := n.srv.Push(other.id, "Hello", codec.Payload{JSON: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if e := other.read(); e.Type != "Hello" {
		t.Fatalf("other got %+v", e)
	}
}

// TestHTTPOnTheTCPPort: an HTTP request sent to the raw TCP port is told
// so and closed at once, instead of being read as a frame of some 18,000
// bytes and kept until the keepalive limit.
func TestHTTPOnTheTCPPort(t *testing.T) {
	n := startNode(t, nil)
	cl := dialTCP(t, n)
	cl.timeout = 3 * time.Second
	cl.writeRaw([]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
	if reason := cl.expectClose(); reason != ReasonNotHotpot {
		t.Fatalf("closed after Kicked %q, want %q", reason, ReasonNotHotpot)
	}
	// A frame whose prefix happens to read "GE" is still a frame.
	ok := dialTCP(t, n)
	frame := append([]byte("GE"), make([]byte, 0x4745)...)
	ok.writeRaw(frame)
	if e := ok.read(); e.Type != "Error" {
		t.Fatalf("got %+v for a frame of 0x4745 zero bytes, want an Error for bad input", e)
	}
}

// TestHandshakesPerAddressAreBounded: one address may have at most
// --max-handshakes-per-ip connections waiting in handshake (here, TCP
// clients that never send Auth); another is refused with Error 429 at
// once, and may come back once one of those ends.
func TestHandshakesPerAddressAreBounded(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.JWTSecret = jwtSecret; c.MaxHandshakesPerIP = 2 })
	var silent []*tcpClient
	for range 2 {
		silent = append(silent, dialTCPRaw(t, n))
	}
	until(t, "both wait in handshake", func() bool {
		n.srv.handshakes.mu.Lock()
		defer n.srv.handshakes.mu.Unlock()
		return n.srv.handshakes.byAddr["127.0.0.1"] == 2
	})
	extra := dialTCPRaw(t, n)
	extra.timeout = 2 * time.Second
	if e := extra.read(); e.Type != "Error" || e.Code != 429 {
		t.Fatalf("a third connection in handshake got %+v, want Error 429", e)
	}
	silent[0].conn.Close()
	until(t, "the closed one's handshake ends", func() bool {
		n.srv.handshakes.mu.Lock()
		defer n.srv.handshakes.mu.Unlock()
		return n.srv.handshakes.byAddr["127.0.0.1"] == 1
	})
	again := dialTCPRaw(t, n)
	again.write(codec.Envelope{Type: "Auth", Data: []byte(`{"token":"` + token(t, jwt.MapClaims{"sub": "back", "exp": time.Now().Add(time.Hour).Unix()}) + `"}`)})
	if e := again.read(); e.Type != "Welcome" {
		t.Fatalf("a connection once there is room got %+v, want Welcome", e)
	}
}

// until polls cond until it holds, failing t after 5 s.
func until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFrameSizeBoundary: a frame of exactly --max-message-bytes is
// handled (an Echo of it comes back whole), one byte more closes the
// connection, on both transports.
func TestFrameSizeBoundary(t *testing.T) {
	const limit = 1000
	n := startNode(t, func(c *config.Config) { c.MaxMessageBytes = limit; c.TCPLenBytes = 4 })
	echoOf := func(size int) []byte {
		prefix := `{"type":"Echo","data":"`
		return []byte(prefix + strings.Repeat("x", size-len(prefix)-2) + `"}`)
	}
	t.Run("ws", func(t *testing.T) {
		cl := dialWS(t, n, "/ws")
		cl.writeRaw(websocket.MessageText, echoOf(limit))
		if got := cl.readRaw(); !bytes.Equal(got, echoOf(limit)) {
			t.Fatalf("a frame of the limit came back as %d bytes", len(got))
		}
		cl.writeRaw(websocket.MessageText, echoOf(limit+1))
		if code, _ := cl.expectClose(); code != websocket.StatusMessageTooBig {
			t.Fatalf("a frame one byte over the limit: close %v, want 1009", code)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		cl := dialTCP(t, n)
		cl.writeFrame(echoOf(limit))
		if got := cl.readRaw(); !bytes.Equal(got, echoOf(limit)) {
			t.Fatalf("a frame of the limit came back as %d bytes", len(got))
		}
		cl.writeFrame(echoOf(limit + 1))
		if reason := cl.expectClose(); reason != ReasonTooBig {
			t.Fatalf("a frame one byte over the limit: Kicked %q, want %q", reason, ReasonTooBig)
		}
	})
}

// TestSlowConsumerWebSocket: a WebSocket client that stops reading while
// its queue overflows is closed as a slow consumer, with close code 1008.
func TestSlowConsumerWebSocket(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.SendQueue = 8 })
	// A small receive buffer, so that little is in flight when it reads
	// again.
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	transport := &http.Transport{DialContext: dialer.DialContext}
	defer transport.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, n.wsURL("/ws?id=slow"), &websocket.DialOptions{HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	slow := &wsClient{t: t, conn: conn, c: codec.JSON}
	t.Cleanup(func() { conn.CloseNow() })
	if w := slow.read(); w.Type != "Welcome" { // it is registered
		t.Fatalf("first message %+v, want Welcome", w)
	}

	big := []byte(`{"blob":"` + strings.Repeat("x", 60000) + `"}`)
	deadline := time.Now().Add(10 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		err = n.srv.Push("slow", "Flood", codec.Payload{JSON: big})
		time.Sleep(time.Millisecond) // paced so that a client that reads would keep up
	}
	if err != ErrQueueFull {
		t.Fatalf("push error %v, want ErrQueueFull", err)
	}
	// It reads again: what was sent before the close, then the close.
	if code, reason := slow.expectClose(); code != websocket.StatusPolicyViolation || reason != ReasonSlowConsumer && reason != "" {
		t.Fatalf("closed with %v after Kicked %q, want 1008 (after %q, if any)", code, reason, ReasonSlowConsumer)
	}
}
