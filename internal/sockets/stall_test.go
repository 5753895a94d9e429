package sockets

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
)

// rawWS makes the WebSocket handshake of agent id with n over a plain
// TCP connection, which the caller writes and discards what it reads
// (the Welcome may already be gone with the handshake's reader); it is
// closed when the test ends. readBuffer, when not 0, sets the client's
// receive buffer first.
func rawWS(t testing.TB, n *testNode, id string, readBuffer int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.httpURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if readBuffer > 0 {
		conn.(*net.TCPConn).SetReadBuffer(readBuffer)
	}
	key := make([]byte, 16)
	rand.Read(key)
	req := "GET /ws?id=" + id + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", err, resp)
	}
	return conn
}

// stallWS connects a raw WebSocket client to n that sends Pings as fast
// as it can and never reads: the node's Pongs fill the socket and the
// write of the next one blocks, holding the connection. It returns once
// that write has blocked (the client's own writes then stall too). n must
// have no rate limit, which would refuse the Pings long before.
func stallWS(t *testing.T, n *testNode, id string) {
	t.Helper()
	conn := rawWS(t, n, id, 4096)
	// A masked Ping with a 125-byte payload; the mask is zero, so the
	// payload goes as it is.
	ping := append([]byte{0x89, 0x80 | 125, 0, 0, 0, 0}, make([]byte, 125)...)
	burst := []byte{}
	for range 64 {
		burst = append(burst, ping...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := conn.Write(burst); errors.Is(err, os.ErrDeadlineExceeded) {
			return // the node stopped reading: it is stuck writing a Pong
		} else if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the node kept reading Pings for 10 s; the test needs a blocked Pong")
}

// TestStalledClientHoldsUpNoOne: a client that stops reading while the
// node writes to it delays neither a broadcast nor pushes and Pings to
// others, which are written by shared goroutines.
func TestStalledClientHoldsUpNoOne(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.RateLimit = 0 })
	stallWS(t, n, "staller")
	other := dialWS(t, n, "/ws?id=other")

	start := time.Now()
	delivered := n.srv.Broadcast(encoded(n, "Tick", codec.Payload{JSON: []byte(`1`)}))
	if d := time.Since(start); d > time.Second || delivered != 2 {
		t.Fatalf("broadcast with a stalled client: %d delivered in %v, want 2 at once", delivered, d)
	}
	if e := other.read(); e.Type != "Tick" {
		t.Fatalf("other got %+v, want Tick", e)
	}
	staller := n.srv.lookup("staller")
	start = time.Now()
	staller.Ping() // as a keepalive sweep does
	if err := n.srv.Push("staller", "Notice", codec.Payload{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a Ping and a push to the stalled client took %v, want no wait", d)
	}
}
