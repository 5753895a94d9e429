package sockets

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

// TestSlowConsumerByCount: --send-queue counts frames. A client that
// stops reading is a slow consumer once --send-queue frames wait for it,
// however small they are and however far they are from
// --send-queue-bytes.
func TestSlowConsumerByCount(t *testing.T) {
	const limit = 4
	n := startNode(t, func(cfg *config.Config) { cfg.SendQueue = limit; cfg.SendQueueBytes = 64 << 20 })
	cl, a := backlogged(t, n)
	a.mu.Lock()
	queued := a.queue.len()
	a.mu.Unlock()
	small := codec.Payload{JSON: []byte(`1`)}
	pushed := 0
	for ; pushed < 1000; pushed++ {
		if err := n.srv.Push(cl.id, "Tick", small); err != nil {
			if !errors.Is(err, ErrQueueFull) {
				t.Fatalf("push: %v, want ErrQueueFull", err)
			}
			break
		}
	}
	if queued+pushed > limit {
		t.Fatalf("%d small frames queued behind %d, want at most %d under --send-queue %d", pushed, queued, limit-queued, limit)
	}
	n.events.waitFor(t, func(e events.Event) bool {
		return e.Type == events.Disconnected && e.Agent == cl.id && e.Reason == ReasonSlowConsumer
	})
}

// TestTCPLengthPrefixIsBigEndian: with --tcp-len-bytes 4 a frame is a
// big-endian uint32 length, then the payload, both ways. The frame is
// built and read here by hand, not with the node's own framing; its
// 300 bytes need two bytes of length, so a little-endian reading would
// see a frame far over the limit.
func TestTCPLengthPrefixIsBigEndian(t *testing.T) {
	n := startNode(t, func(cfg *config.Config) { cfg.TCPLenBytes = 4 })
	cl := dialTCPRaw(t, n)
	readFrame := func() []byte {
		t.Helper()
		cl.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var prefix [4]byte
		if _, err := io.ReadFull(cl.br, prefix[:]); err != nil {
			t.Fatalf("reading a length prefix: %v", err)
		}
		size := binary.BigEndian.Uint32(prefix[:])
		if size > uint32(n.srv.cfg.MaxMessageBytes) {
			t.Fatalf("length prefix % x, read big-endian, is %d bytes: over --max-message-bytes", prefix, size)
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(cl.br, payload); err != nil {
			t.Fatalf("reading a payload of %d bytes: %v", len(payload), err)
		}
		return payload
	}
	var welcome struct{ Type string }
	if w := readFrame(); json.Unmarshal(w, &welcome) != nil || welcome.Type != "Welcome" {
		t.Fatalf("first frame %q, want Welcome", w)
	}

	echo := []byte(`{"type":"Echo","data":"` + strings.Repeat("e", 300-len(`{"type":"Echo","data":""}`)) + `"}`)
	frame := make([]byte, 4+len(echo))
	binary.BigEndian.PutUint32(frame, uint32(len(echo)))
	copy(frame[4:], echo)
	cl.writeRaw(frame)
	if got := readFrame(); !bytes.Equal(got, echo) {
		t.Fatalf("echo came back as %q, want the %d bytes sent", got, len(echo))
	}
}

// TestAllowedOriginPatterns: --allowed-origins takes coder/websocket's
// OriginPatterns: a host pattern (path.Match, case-insensitive) matches
// an Origin's host whatever its scheme, and a pattern with a scheme
// matches scheme://host. Any other Origin gets 403 at the handshake.
func TestAllowedOriginPatterns(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.AllowedOrigins = []string{"*.example.com", "https://game.example.org"}
	})
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://a.example.com", http.StatusSwitchingProtocols},
		{"http://A.Example.COM", http.StatusSwitchingProtocols},
		{"https://example.org", http.StatusForbidden},
		{"https://example.com", http.StatusForbidden},
		{"https://a.example.com.evil.net", http.StatusForbidden},
		{"https://game.example.org", http.StatusSwitchingProtocols},
		{"http://game.example.org", http.StatusForbidden},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, resp, err := websocket.Dial(ctx, n.wsURL("/ws"), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {tc.origin}}})
			if conn != nil {
				conn.CloseNow()
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("status %v (err %v), want %d", resp, err, tc.status)
			}
		})
	}
}

// TestIdleTimeCountsFromWelcome: a TCP client's time to authenticate does
// not count as idle. One that sends Auth late, then stays silent, gets
// its Ping no sooner than --keepalive-interval after Welcome and Kicked
// no sooner than --keepalive-limit after it. Only lower bounds are
// timed: a loaded machine may make the node late, never early.
func TestIdleTimeCountsFromWelcome(t *testing.T) {
	const interval, limit = 200 * time.Millisecond, 600 * time.Millisecond
	n := startNode(t, func(c *config.Config) {
		c.JWTSecret = jwtSecret
		c.KeepaliveInterval = interval
		c.KeepaliveLimit = limit
	})
	cl := dialTCPRaw(t, n)
	time.Sleep(limit * 6 / 10) // the client takes its time to authenticate
	cl.write(codec.Envelope{Type: "Auth", Data: []byte(`{"token":"` + token(t, jwt.MapClaims{"sub": "late", "exp": inAnHour()}) + `"}`)})
	if w := cl.read(); w.Type != "Welcome" {
		t.Fatalf("got %+v, want Welcome", w)
	}
	welcomed := time.Now()
	if e := cl.read(); e.Type != "Ping" {
		t.Fatalf("got %+v, want Ping", e)
	}
	if pinged := time.Since(welcomed); pinged < interval {
		t.Errorf("Ping %v after Welcome, want at least the %v interval", pinged, interval)
	}
	if reason := cl.expectClose(); reason != ReasonKeepaliveTimeout {
		t.Fatalf("closed after Kicked %q, want %q", reason, ReasonKeepaliveTimeout)
	}
	if closed := time.Since(welcomed); closed < limit {
		t.Errorf("closed %v after Welcome, want at least the %v limit", closed, limit)
	}
}
