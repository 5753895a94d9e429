package sockets

// These tests pin the server side of the WebSocket protocol (RFC 6455) as
// the node speaks it, with a client written byte by byte on a TCP
// connection rather than a WebSocket library, so that they can send
// exactly what a misbehaving client would and check exactly what the node
// answers: bytes on the wire, close codes, HTTP statuses and agent events.
// They say nothing of how the node is built, so they hold whatever reads
// and writes its WebSockets.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// wireTimeout bounds every read and write of a wireClient.
const wireTimeout = 5 * time.Second

// wireKey is the Sec-WebSocket-Key wireClients send (RFC 6455 §1.3's
// example, base64 of 16 bytes), and wireAccept the Sec-WebSocket-Accept
// it must earn: base64(SHA-1(key + the RFC's GUID)), which is the RFC's
// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
var (
	wireKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	wireAccept = func() string {
		sum := sha1.Sum([]byte(wireKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		return base64.StdEncoding.EncodeToString(sum[:])
	}()
)

// wireClient is a WebSocket client written byte by byte on a TCP
// connection to a node's HTTP listener.
type wireClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	host string // the node's host:port, for Host
	id   string // the agent id, from Welcome once handshake has read it
}

// dialWire connects to n's HTTP listener; nothing is sent yet. The
// connection is closed when the test ends.
func dialWire(t testing.TB, n *testNode) *wireClient {
	t.Helper()
	host := strings.TrimPrefix(n.httpURL, "http://")
	d := net.Dialer{Timeout: wireTimeout}
	conn, err := d.DialContext(t.Context(), "tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wireClient{t: t, conn: conn, br: bufio.NewReader(conn), host: host}
}

// upgradeRequest is a valid handshake request (RFC 6455 §4.1) with
// method for path, changed by edits: "Name: value" sets a header (in
// place of the default, if any), "Name:" removes it.
func upgradeRequest(method, path, host string, edits ...string) []byte {
	header := [][2]string{
		{"Host", host},
		{"Upgrade", "websocket"},
		{"Connection", "Upgrade"},
		{"Sec-WebSocket-Key", wireKey},
		{"Sec-WebSocket-Version", "13"},
	}
	for _, e := range edits {
		name, value, _ := strings.Cut(e, ":")
		value = strings.TrimSpace(value)
		i := 0
		for i < len(header) && !strings.EqualFold(header[i][0], name) {
			i++
		}
		switch {
		case i < len(header) && value == "":
			header = append(header[:i], header[i+1:]...)
		case i < len(header):
			header[i][1] = value
		case value != "":
			header = append(header, [2]string{name, value})
		}
	}
	req := method + " " + path + " HTTP/1.1\r\n"
	for _, h := range header {
		req += h[0] + ": " + h[1] + "\r\n"
	}
	return []byte(req + "\r\n")
}

// write sends b in one write.
func (c *wireClient) write(b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(wireTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// request sends req and reads the node's HTTP answer (its body, if any,
// is left unread).
func (c *wireClient) request(req []byte) *http.Response {
	c.t.Helper()
	c.write(req)
	c.conn.SetReadDeadline(time.Now().Add(wireTimeout))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("reading the answer to the handshake: %v", err)
	}
	return resp
}

// handshake upgrades c at path with a request changed by edits (see
// upgradeRequest) and followed, in the same write, by behind. It checks
// the 101 and its Sec-WebSocket-Accept, reads Welcome (a text frame, or
// binary for a binary codec) into c.id and returns the 101.
func (c *wireClient) handshake(path string, behind []byte, edits ...string) *http.Response {
	c.t.Helper()
	resp := c.request(append(upgradeRequest("GET", path, c.host, edits...), behind...))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.t.Fatalf("handshake answered %s, want 101", resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wireAccept {
		c.t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, wireAccept)
	}
	cdc := codec.JSON
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" {
		var ok bool
		if cdc, ok = codec.Lookup(strings.TrimPrefix(p, "hotpot.")); !ok {
			c.t.Fatalf("subprotocol %q chosen", p)
		}
	}
	wantOp := byte(wsproto.OpText)
	if cdc.Binary() {
		wantOp = wsproto.OpBinary
	}
	fin, op, payload := c.readFrame()
	e, err := cdc.Decode(payload)
	if !fin || op != wantOp || err != nil || e.Type != "Welcome" {
		c.t.Fatalf("first frame fin=%v opcode %#x %q, want a final frame of opcode %#x with Welcome", fin, op, payload, wantOp)
	}
	p, err := cdc.Payload(e.Data)
	if err != nil {
		c.t.Fatal(err)
	}
	var welcome struct{ ID string }
	if err := json.Unmarshal(p.Raw(), &welcome); err != nil || welcome.ID == "" {
		c.t.Fatalf("Welcome data %s: %v", p.Raw(), err)
	}
	c.id = welcome.ID
	return resp
}

// in returns c for use by t, a subtest of the test that dialled c, so
// that its failures stop the subtest, not its parent.
func (c *wireClient) in(t testing.TB) *wireClient {
	c2 := *c
	c2.t = t
	return &c2
}

// dialWireWS connects to n and upgrades at path; see handshake.
func dialWireWS(t testing.TB, n *testNode, path string) *wireClient {
	t.Helper()
	c := dialWire(t, n)
	c.handshake(path, nil)
	return c
}

// wireFrame returns one frame: FIN, rsv (0x40 RSV1, 0x20 RSV2, 0x10 RSV3)
// and opcode in its first byte, the payload length in its shortest
// encoding, then, when masked, a mask key and the payload masked with it
// (RFC 6455 §5.2–5.3).
func wireFrame(fin bool, rsv, opcode byte, payload []byte, masked bool) []byte {
	b0 := rsv | opcode
	if fin {
		b0 |= 0x80
	}
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, maskBit|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, maskBit|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, maskBit|127), uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, x := range payload {
		b = append(b, x^key[i%4])
	}
	return b
}

// writeFrame sends one frame (see wireFrame) in one write.
func (c *wireClient) writeFrame(fin bool, rsv, opcode byte, payload []byte, masked bool) {
	c.t.Helper()
	c.write(wireFrame(fin, rsv, opcode, payload, masked))
}

// wireClose is the payload of a Close frame with code and reason.
func wireClose(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// readFrameErr reads one frame from the node, or returns the error that
// ended the connection (a timeout after wireTimeout). A frame the node
// masked or set RSV bits on fails the test: a server must not mask
// (§5.1) and the node negotiates no extension.
func (c *wireClient) readFrameErr() (fin bool, opcode byte, payload []byte, err error) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(wireTimeout))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return false, 0, nil, err
	}
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		c.t.Errorf("the node sent a frame with RSV bits %#x, mask bit %v", h[0]&0x70, h[1]&0x80 != 0)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		_, err = io.ReadFull(c.br, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, err = io.ReadFull(c.br, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	if err == nil && n > 1<<20 {
		err = fmt.Errorf("a frame of %d bytes", n)
	}
	if err != nil {
		return false, 0, nil, err
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return false, 0, nil, err
	}
	return h[0]&0x80 != 0, h[0] & 0x0f, payload, nil
}

// readFrame reads one frame from the node, failing the test if none
// comes within wireTimeout.
func (c *wireClient) readFrame() (fin bool, opcode byte, payload []byte) {
	c.t.Helper()
	fin, opcode, payload, err := c.readFrameErr()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return fin, opcode, payload
}

// expectText reads the next frame other than a keepalive Ping and fails
// the test unless it is a final text frame carrying want.
func (c *wireClient) expectText(want []byte) {
	c.t.Helper()
	for {
		fin, op, got := c.readFrame()
		if op == wsproto.OpText && bytes.HasPrefix(got, []byte(`{"type":"Ping"`)) {
			continue // the keepalive's, after 5 s of a long test
		}
		if !fin || op != wsproto.OpText || !bytes.Equal(got, want) {
			c.t.Fatalf("got fin=%v opcode %#x %q, want a final text frame %q", fin, op, got, want)
		}
		return
	}
}

// echo sends msg as one masked text frame and expects it back (msg is an
// Echo).
func (c *wireClient) echo(msg []byte) {
	c.t.Helper()
	c.writeFrame(true, 0, wsproto.OpText, msg, true)
	c.expectText(msg)
}

// readClose reads until the node's Close frame and returns its code
// (1005 when it carries none, as RFC 6455 §7.1.5 reports it) and the
// reason of a Kicked that came before it ("" if none). sent is false if
// the connection ended with no Close frame.
func (c *wireClient) readClose() (code int, kicked string, sent bool) {
	c.t.Helper()
	for {
		_, op, payload, err := c.readFrameErr()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.t.Fatal("the node neither closed nor sent a Close frame")
		}
		if err != nil {
			return 0, kicked, false
		}
		switch op {
		case wsproto.OpClose:
			if len(payload) < 2 {
				return 1005, kicked, true
			}
			return int(binary.BigEndian.Uint16(payload)), kicked, true
		case wsproto.OpText:
			var e struct {
				Type string
				Data struct{ Reason string }
			}
			if json.Unmarshal(payload, &e) == nil && e.Type == "Kicked" {
				kicked = e.Data.Reason
			}
		}
	}
}

// expectEnd fails the test unless the node ends the TCP connection within
// wireTimeout, sending nothing more first.
func (c *wireClient) expectEnd() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(wireTimeout))
	n, err := c.br.Read(make([]byte, 64))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatal("the node left the TCP connection open")
	case n > 0:
		c.t.Fatalf("the node sent %d bytes more where it should have closed", n)
	}
}

// waitGone waits for the agent.disconnected event of id and returns its
// reason.
func waitGone(t testing.TB, n *testNode, id string) string {
	t.Helper()
	return n.events.waitFor(t, func(e events.Event) bool {
		return e.Type == events.Disconnected && e.Agent == id
	}).Reason
}

// TestWebSocketHandshake: a valid Upgrade gets 101 with the RFC's
// Sec-WebSocket-Accept, the hotpot subprotocol the client offers among
// others (none if it offers none of the node's; with hotpot.msgpack,
// Welcome comes in a binary frame) and no extension, even when the
// client offers permessage-deflate.
func TestWebSocketHandshake(t *testing.T) {
	if wireAccept != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("the test computes Sec-WebSocket-Accept %q, not the RFC's", wireAccept)
	}
	n := startNode(t, nil)
	for _, tc := range []struct {
		name  string
		edits []string
		proto string // Sec-WebSocket-Protocol wanted in the 101
	}{
		{"no subprotocol", nil, ""},
		{"hotpot.msgpack", []string{"Sec-WebSocket-Protocol: hotpot.msgpack"}, "hotpot.msgpack"},
		{"unknown, then hotpot.msgpack", []string{"Sec-WebSocket-Protocol: chat, hotpot.msgpack"}, "hotpot.msgpack"},
		{"only unknown subprotocols", []string{"Sec-WebSocket-Protocol: chat, superchat"}, ""},
		{"permessage-deflate offered", []string{"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWire(t, n)
			resp := c.handshake("/ws", nil, tc.edits...) // checks 101, the accept and Welcome
			if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
				t.Errorf("101 with Upgrade %q, Connection %q", resp.Header.Get("Upgrade"), resp.Header.Get("Connection"))
			}
			if got, ok := resp.Header["Sec-Websocket-Protocol"]; tc.proto == "" && ok || tc.proto != "" && (len(got) != 1 || got[0] != tc.proto) {
				t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tc.proto)
			}
			if got, ok := resp.Header["Sec-Websocket-Extensions"]; ok {
				t.Errorf("Sec-WebSocket-Extensions %q in the 101, want none", got)
			}
		})
	}
}

// TestWebSocketHandshakeRefusals pins the status of each refused
// handshake: 405 for a method other than GET, 426 without Connection:
// Upgrade or Upgrade: websocket (naming websocket in Upgrade), 400 for a
// version other than 13 (naming 13 in Sec-WebSocket-Version), 400 for a
// missing key or one that is not base64 of 16 bytes, 403 for an Origin
// neither of the node's host nor allowed by --allowed-origins.
func TestWebSocketHandshakeRefusals(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.AllowedOrigins = []string{"game.example.com"} })
	host := strings.TrimPrefix(n.httpURL, "http://")
	for _, tc := range []struct {
		name   string
		method string
		edits  []string
		status int
		header [2]string // a header the answer must carry, if any
	}{
		{"POST", "POST", nil, 405, [2]string{}},
		{"no Connection", "GET", []string{"Connection:"}, 426, [2]string{"Upgrade", "websocket"}},
		{"Connection without Upgrade", "GET", []string{"Connection: keep-alive"}, 426, [2]string{"Upgrade", "websocket"}},
		{"no Upgrade", "GET", []string{"Upgrade:"}, 426, [2]string{"Upgrade", "websocket"}},
		{"Upgrade: h2c", "GET", []string{"Upgrade: h2c"}, 426, [2]string{"Upgrade", "websocket"}},
		{"version 12", "GET", []string{"Sec-WebSocket-Version: 12"}, 400, [2]string{"Sec-WebSocket-Version", "13"}},
		{"no version", "GET", []string{"Sec-WebSocket-Version:"}, 400, [2]string{"Sec-WebSocket-Version", "13"}},
		{"no key", "GET", []string{"Sec-WebSocket-Key:"}, 400, [2]string{}},
		{"key not base64", "GET", []string{"Sec-WebSocket-Key: not*base64*at*all!"}, 400, [2]string{}},
		{"key of 15 bytes", "GET", []string{"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(make([]byte, 15))}, 400, [2]string{}},
		{"key of 17 bytes", "GET", []string{"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(make([]byte, 17))}, 400, [2]string{}},
		{"foreign Origin", "GET", []string{"Origin: https://evil.example.com"}, 403, [2]string{}},
		{"Origin allowed by pattern", "GET", []string{"Origin: https://game.example.com"}, 101, [2]string{}},
		{"Origin of the node's host", "GET", []string{"Origin: http://" + host}, 101, [2]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWire(t, n)
			resp := c.request(upgradeRequest(tc.method, "/ws", host, tc.edits...))
			if resp.StatusCode != tc.status {
				t.Fatalf("answered %s, want %d", resp.Status, tc.status)
			}
			if name := tc.header[0]; name != "" && !strings.EqualFold(resp.Header.Get(name), tc.header[1]) {
				t.Fatalf("answered with %s %q, want %q", name, resp.Header.Get(name), tc.header[1])
			}
			if tc.status == 101 && resp.Header.Get("Sec-WebSocket-Accept") != wireAccept {
				t.Fatalf("Sec-WebSocket-Accept %q, want %q", resp.Header.Get("Sec-WebSocket-Accept"), wireAccept)
			}
		})
	}
}

// TestWebSocketPing: a client's Ping is answered with an unmasked, final
// Pong carrying its payload, from empty to the 125 bytes a control frame
// may carry; an unsolicited Pong from the client is ignored.
func TestWebSocketPing(t *testing.T) {
	n := startNode(t, nil)
	c := dialWireWS(t, n, "/ws")
	for _, payload := range [][]byte{[]byte("abc"), {}, bytes.Repeat([]byte{0xfe}, 125)} {
		c.writeFrame(true, 0, wsproto.OpPing, payload, true)
		if fin, op, got := c.readFrame(); !fin || op != wsproto.OpPong || !bytes.Equal(got, payload) {
			t.Fatalf("Ping %q answered with fin=%v opcode %#x %q, want a final Pong with the same payload", payload, fin, op, got)
		}
	}
	c.writeFrame(true, 0, wsproto.OpPong, []byte("unasked"), true)
	c.echo(seedEcho)
}

// TestWebSocketFragments: a message sent in fragments is handled as one
// (its Echo comes back whole, in one frame), and a Ping between its
// fragments gets its Pong.
func TestWebSocketFragments(t *testing.T) {
	n := startNode(t, nil)
	msg := seedEcho
	for _, tc := range []struct {
		name  string
		parts [3][]byte
	}{
		{"three parts", [3][]byte{msg[:10], msg[10:20], msg[20:]}},
		{"empty first and last", [3][]byte{{}, msg, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWireWS(t, n, "/ws")
			c.writeFrame(false, 0, wsproto.OpText, tc.parts[0], true)
			c.writeFrame(true, 0, wsproto.OpPing, []byte("mid"), true)
			c.writeFrame(false, 0, wsproto.OpContinuation, tc.parts[1], true)
			c.writeFrame(true, 0, wsproto.OpContinuation, tc.parts[2], true)
			var ponged, echoed bool
			for !ponged || !echoed {
				fin, op, got := c.readFrame()
				switch {
				case op == wsproto.OpPong && !ponged && fin && string(got) == "mid":
					ponged = true
				case op == wsproto.OpText && !echoed && fin && bytes.Equal(got, msg):
					echoed = true
				default:
					t.Fatalf("got fin=%v opcode %#x %q; want a Pong \"mid\" and the Echo %q", fin, op, got, msg)
				}
			}
			c.echo(msg) // the connection goes on
		})
	}
}

// TestWebSocketProtocolViolations: each violation of RFC 6455 ends the
// connection with a Close frame of code 1002 (protocol error), or 1007
// for text that is not UTF-8, and the agent is gone while the node serves
// others.
func TestWebSocketProtocolViolations(t *testing.T) {
	n := startNode(t, nil)
	other := dialWireWS(t, n, "/ws?id=bystander")
	notUTF8 := []byte("{\"type\":\"Echo\",\"data\":\"\xff\"}")
	for i, tc := range []struct {
		name   string
		frames [][]byte
		code   int // of the node's Close
	}{
		{"unmasked frame", [][]byte{wireFrame(true, 0, wsproto.OpText, seedEcho, false)}, 1002},
		{"RSV1 set", [][]byte{wireFrame(true, 0x40, wsproto.OpText, seedEcho, true)}, 1002},
		{"RSV2 set", [][]byte{wireFrame(true, 0x20, wsproto.OpText, seedEcho, true)}, 1002},
		{"RSV3 set", [][]byte{wireFrame(true, 0x10, wsproto.OpText, seedEcho, true)}, 1002},
		{"Ping of 126 bytes", [][]byte{wireFrame(true, 0, wsproto.OpPing, make([]byte, 126), true)}, 1002},
		{"fragmented Ping", [][]byte{wireFrame(false, 0, wsproto.OpPing, []byte("abc"), true)}, 1002},
		{"continuation with no message", [][]byte{wireFrame(true, 0, wsproto.OpContinuation, seedEcho, true)}, 1002},
		{"text frame inside a fragmented message", [][]byte{
			wireFrame(false, 0, wsproto.OpText, seedEcho[:10], true),
			wireFrame(true, 0, wsproto.OpText, seedEcho, true),
		}, 1002},
		{"opcode 0x3", [][]byte{wireFrame(true, 0, 0x3, seedEcho, true)}, 1002},
		{"opcode 0xB", [][]byte{wireFrame(true, 0, 0xB, nil, true)}, 1002},
		{"text message not UTF-8", [][]byte{wireFrame(true, 0, wsproto.OpText, notUTF8, true)}, 1007},
		{"text not UTF-8 across fragments", [][]byte{
			wireFrame(false, 0, wsproto.OpText, notUTF8[:10], true),
			wireFrame(true, 0, wsproto.OpContinuation, notUTF8[10:], true),
		}, 1007},
		{"close reason not UTF-8", [][]byte{wireFrame(true, 0, wsproto.OpClose, wireClose(1000, "\xff\xfe"), true)}, 1007},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWireWS(t, n, fmt.Sprintf("/ws?id=violator-%d", i))
			for _, f := range tc.frames {
				c.write(f)
			}
			if code, _, sent := c.readClose(); !sent || code != tc.code {
				t.Errorf("Close frame sent %v with code %d, want %d", sent, code, tc.code)
			}
			c.expectEnd() // the node closes without waiting for the client's Close
			// The node did not decide to close it: it counts as the client's doing.
			if reason := waitGone(t, n, c.id); reason != ReasonClientClosed {
				t.Errorf("agent.disconnected reason %q, want %q", reason, ReasonClientClosed)
			}
			other.in(t).echo(seedEcho)
		})
	}
}

// TestWebSocketTooBig: a message over --max-message-bytes, in one frame
// or in fragments (the rest of it read and dropped, with whatever comes
// after), gets Kicked "message too big"
// then a Close of code 1009; once the client answers the Close the node
// ends the connection, and the agent leaves with that reason.
func TestWebSocketTooBig(t *testing.T) {
	const limit = 1024
	n := startNode(t, func(c *config.Config) { c.MaxMessageBytes = limit })
	other := dialWireWS(t, n, "/ws?id=bystander")
	big := []byte(`{"type":"Echo","data":"` + strings.Repeat("x", 1500) + `"}`)
	for _, tc := range []struct {
		name   string
		frames [][]byte
	}{
		{"one frame", [][]byte{wireFrame(true, 0, wsproto.OpText, big, true)}},
		{"a first fragment over the limit, the rest dropped", [][]byte{
			wireFrame(false, 0, wsproto.OpText, big[:1100], true),
			wireFrame(true, 0, wsproto.OpPing, []byte("mid"), true),
			wireFrame(false, 0, wsproto.OpContinuation, big[1100:1300], true),
			wireFrame(true, 0, wsproto.OpContinuation, big[1300:], true),
			wireFrame(true, 0, wsproto.OpText, seedEcho, true),
		}},
		{"fragments", [][]byte{
			wireFrame(false, 0, wsproto.OpText, big[:500], true),
			wireFrame(false, 0, wsproto.OpContinuation, big[500:1000], true),
			wireFrame(true, 0, wsproto.OpContinuation, big[1000:], true),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWireWS(t, n, "/ws")
			for _, f := range tc.frames {
				c.write(f)
			}
			code, kicked, sent := c.readClose()
			if !sent || code != 1009 || kicked != ReasonTooBig {
				t.Fatalf("Close frame sent %v with code %d after Kicked %q, want 1009 after Kicked %q", sent, code, kicked, ReasonTooBig)
			}
			c.writeFrame(true, 0, wsproto.OpClose, wireClose(1009, ""), true)
			c.expectEnd()
			if reason := waitGone(t, n, c.id); reason != ReasonTooBig {
				t.Fatalf("agent.disconnected reason %q, want %q", reason, ReasonTooBig)
			}
			other.in(t).echo(seedEcho)
		})
	}
}

// TestWebSocketClientClose: a client's Close (1000 "bye") is answered
// with a Close of code 1000, then the node ends the TCP connection, and
// the agent leaves "closed by client". (Today's answer also echoes the
// reason "bye"; that is not pinned.)
func TestWebSocketClientClose(t *testing.T) {
	n := startNode(t, nil)
	c := dialWireWS(t, n, "/ws")
	c.writeFrame(true, 0, wsproto.OpClose, wireClose(1000, "bye"), true)
	if fin, op, payload := c.readFrame(); !fin || op != wsproto.OpClose || len(payload) < 2 || binary.BigEndian.Uint16(payload) != 1000 {
		t.Fatalf("got fin=%v opcode %#x %q, want a Close of code 1000", fin, op, payload)
	}
	c.expectEnd()
	if reason := waitGone(t, n, c.id); reason != ReasonClientClosed {
		t.Fatalf("agent.disconnected reason %q, want %q", reason, ReasonClientClosed)
	}
}

// TestWebSocketClosePayloads: a client's Close of a valid code is
// answered with that code; one with an empty payload with a Close of
// none (a Close of 1000 would do as well by RFC 6455 §5.5.1, but this is
// today's answer); a 1-byte payload, or a code no endpoint may send
// (below 1000, 1004-1006, 1015, 1016-2999, 5000 and up), is a protocol
// error, 1002. Every time, the node ends the connection.
func TestWebSocketClosePayloads(t *testing.T) {
	n := startNode(t, nil)
	for _, tc := range []struct {
		name    string
		payload []byte
		want    int // the code of the node's Close; 1005 for none
	}{
		{"1000", wireClose(1000, "bye"), 1000},
		{"1001", wireClose(1001, ""), 1001},
		{"3000", wireClose(3000, "app"), 3000},
		{"4999", wireClose(4999, ""), 4999},
		{"empty", nil, 1005},
		{"1 byte", []byte{0x03}, 1002},
		{"999", wireClose(999, ""), 1002},
		{"1004", wireClose(1004, ""), 1002},
		{"1005", wireClose(1005, ""), 1002},
		{"1006", wireClose(1006, ""), 1002},
		{"1015", wireClose(1015, ""), 1002},
		{"2000", wireClose(2000, ""), 1002},
		{"5000", wireClose(5000, ""), 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWireWS(t, n, "/ws")
			c.writeFrame(true, 0, wsproto.OpClose, tc.payload, true)
			if code, _, sent := c.readClose(); !sent || code != tc.want {
				t.Fatalf("Close frame sent %v with code %d, want %d", sent, code, tc.want)
			}
			c.expectEnd()
			waitGone(t, n, c.id)
		})
	}
}

// TestWebSocketBytesBehindHandshake: a frame the client sends in the same
// write as its handshake request is not lost: its Echo comes back after
// Welcome.
func TestWebSocketBytesBehindHandshake(t *testing.T) {
	n := startNode(t, nil)
	c := dialWire(t, n)
	c.handshake("/ws", wireFrame(true, 0, wsproto.OpText, seedEcho, true))
	c.expectText(seedEcho)
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
