package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// serverFrame returns a frame as a server writes it: unmasked, its length
// in 7, 16 or 64 bits (lenBits; 0 picks the shortest).
func serverFrame(fin bool, op byte, payload []byte, lenBits int) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	n := len(payload)
	if lenBits == 0 {
		lenBits = map[bool]int{true: 7, false: 16}[n < 126]
		if n > 0xffff {
			lenBits = 64
		}
	}
	switch lenBits {
	case 7:
		b = append(b, byte(n))
	case 16:
		b = binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
	return append(b, payload...)
}

// message is a message or control frame as frameReader gives it.
type message struct {
	op      byte
	payload string
}

// parseStream parses stream handed over in chunks of the given sizes (the
// rest in one), as a poller hands over what each read gives: the bytes of
// a frame not yet complete are handed back before the next chunk.
func parseStream(stream []byte, chunks ...int) ([]message, error) {
	var r frameReader
	var got []message
	var pending []byte
	for len(stream) > 0 {
		n := len(stream)
		if len(chunks) > 0 {
			n, chunks = min(chunks[0], n), chunks[1:]
		}
		b := append(pending, stream[:n]...)
		stream = stream[n:]
		for {
			op, payload, k, err := r.next(b)
			b = b[k:]
			if err != nil {
				return got, err
			}
			if op == 0 {
				break
			}
			got = append(got, message{op, string(payload)})
		}
		pending = append([]byte(nil), b...)
	}
	if len(pending) > 0 {
		return got, errors.New("stream ends inside a frame")
	}
	return got, nil
}

func TestFrameReader(t *testing.T) {
	mid := strings.Repeat("x", 300)            // a 16-bit length
	long := strings.Repeat("0123456789", 7000) // 70,000 bytes: a 64-bit length
	tests := []struct {
		name   string
		frames [][]byte
		want   []message
	}{{
		name: "lengths",
		frames: [][]byte{
			serverFrame(true, wsproto.OpText, []byte(`{"type":"Welcome"}`), 0),
			serverFrame(true, wsproto.OpBinary, []byte(mid), 0),
			serverFrame(true, wsproto.OpText, []byte("short, long form"), 64),
			serverFrame(true, wsproto.OpText, []byte("short, 16-bit form"), 16),
			serverFrame(true, wsproto.OpText, nil, 0),
			serverFrame(true, wsproto.OpClose, wsproto.ClosePayload(uint16(websocket.StatusGoingAway), ""), 0),
		},
		want: []message{
			{wsproto.OpText, `{"type":"Welcome"}`}, {wsproto.OpBinary, mid}, {wsproto.OpText, "short, long form"},
			{wsproto.OpText, "short, 16-bit form"}, {wsproto.OpText, ""}, {wsproto.OpClose, "\x03\xe9"},
		},
	}, {
		name: "fragments",
		frames: [][]byte{
			// Three fragments, a ping and a pong between them.
			serverFrame(false, wsproto.OpText, []byte("frag"), 0),
			serverFrame(true, wsproto.OpPing, []byte("are you there"), 0),
			serverFrame(false, wsproto.OpContinuation, []byte("men"), 0),
			serverFrame(true, wsproto.OpPong, nil, 0),
			serverFrame(true, wsproto.OpContinuation, []byte("ted"), 0),
			serverFrame(true, wsproto.OpText, []byte("whole"), 0),
			// Binary, with an empty fragment.
			serverFrame(false, wsproto.OpBinary, []byte(mid), 0),
			serverFrame(false, wsproto.OpContinuation, nil, 0),
			serverFrame(true, wsproto.OpContinuation, []byte(mid), 0),
		},
		want: []message{{wsproto.OpPing, "are you there"}, {wsproto.OpPong, ""}, {wsproto.OpText, "fragmented"}, {wsproto.OpText, "whole"}, {wsproto.OpBinary, mid + mid}},
	}, {
		name: "long",
		frames: [][]byte{
			serverFrame(true, wsproto.OpText, []byte(long), 0),
			serverFrame(false, wsproto.OpBinary, []byte(long), 0),
			serverFrame(true, wsproto.OpContinuation, []byte(long), 0),
			serverFrame(true, wsproto.OpText, []byte("after"), 0),
		},
		want: []message{{wsproto.OpText, long}, {wsproto.OpBinary, long + long}, {wsproto.OpText, "after"}},
	}}
	for _, tt := range tests {
		stream := bytes.Join(tt.frames, nil)
		check := func(how string, chunks ...int) {
			t.Helper()
			got, err := parseStream(stream, chunks...)
			if err != nil {
				t.Fatalf("%s, %s: %v", tt.name, how, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%s, %s: %d messages, want %d", tt.name, how, len(got), len(tt.want))
			}
			for i, want := range tt.want {
				if got[i] != want {
					t.Errorf("%s, %s: message %d is %#x %.40q, want %#x %.40q", tt.name, how, i, got[i].op, got[i].payload, want.op, want.payload)
				}
			}
		}
		check("in one read")
		check("reads of 1000 bytes", chunks(len(stream)/1000+1, 1000)...)
		if len(stream) < 10000 {
			check("a byte a read", chunks(len(stream), 1)...)
		}
		// Split in two at every point of each frame's first 20 bytes and
		// last 10, headers of each length included.
		at := 0
		for _, f := range tt.frames {
			for k := range len(f) {
				if k < 20 || k >= len(f)-10 {
					check(fmt.Sprintf("split at %d", at+k), at+k)
				}
			}
			at += len(f)
		}
	}
}

// chunks returns n sizes of size bytes.
func chunks(n, size int) []int {
	c := make([]int, n)
	for i := range c {
		c[i] = size
	}
	return c
}

// TestFrameReaderRefuses: what a node must not send ends the agent.
func TestFrameReaderRefuses(t *testing.T) {
	huge := binary.BigEndian.AppendUint64([]byte{0x82, 127}, maxMessageBytes+1)
	tests := []struct {
		name   string
		stream []byte
		want   string
	}{
		{"masked", []byte{0x81, 0x81, 1, 2, 3, 4, 'x'}, "masked"},
		{"reserved bit", []byte{0xc1, 0}, "reserved bits"},
		{"unknown data opcode", []byte{0x83, 0}, "unknown opcode"},
		{"unknown control opcode", []byte{0x8b, 0}, "unknown opcode"},
		{"fragmented ping", []byte{0x09, 0}, "control frame"},
		{"long ping", serverFrame(true, wsproto.OpPing, make([]byte, 126), 0), "control frame"},
		{"continuation first", serverFrame(true, wsproto.OpContinuation, []byte("x"), 0), "continuation frame outside"},
		{"message inside a message", append(serverFrame(false, wsproto.OpText, []byte("a"), 0), serverFrame(true, wsproto.OpText, []byte("b"), 0)...), "new message inside"},
		{"over the limit", huge, "over"},
	}
	for _, tt := range tests {
		_, err := parseStream(tt.stream)
		if !errors.Is(err, errProtocol) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want a protocol error about %q", tt.name, err, tt.want)
		}
	}
}

func TestAppendClientFrame(t *testing.T) {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	for _, tt := range []struct {
		n      int
		header int // bytes before the key
	}{{0, 2}, {125, 2}, {126, 4}, {0xffff, 4}, {0x10000, 10}} {
		payload := bytes.Repeat([]byte("abc"), tt.n/3+1)[:tt.n]
		f := appendClientFrame([]byte("kept"), wsproto.OpText, payload, key)
		f, ok := bytes.CutPrefix(f, []byte("kept"))
		switch {
		case !ok:
			t.Fatalf("%d bytes: dst not kept", tt.n)
		case f[0] != 0x81 || f[1]&0x80 == 0:
			t.Fatalf("%d bytes: first bytes %#x %#x, want a final text frame, masked", tt.n, f[0], f[1])
		case len(f) != tt.header+4+tt.n || !bytes.Equal(f[tt.header:tt.header+4], key[:]):
			t.Fatalf("%d bytes: frame of %d bytes, want a %d-byte header, the key and the payload", tt.n, len(f), tt.header)
		}
		for i := range payload {
			f[tt.header+4+i] ^= key[i&3]
		}
		if !bytes.Equal(f[tt.header+4:], payload) {
			t.Errorf("%d bytes: unmasked payload differs", tt.n)
		}
	}
}

// acceptingServer starts a WebSocket endpoint whose connections serve
// runs, after accepting them with subprotocol hotpot.json.
func acceptingServer(t *testing.T, serve func(ctx context.Context, c *websocket.Conn)) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"hotpot.json"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(r.Context(), c)
	}))
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
}

// testProtocol returns the JSON protocol with a dial timeout of 5 s.
func testProtocol(urls ...string) *protocol {
	pong, _ := codec.JSON.Encode(codec.Envelope{Type: "Pong"})
	return &protocol{urls: urls, timeout: 5 * time.Second, codec: codec.JSON, msgType: websocket.MessageText, pong: pong}
}

const testWelcome = `{"type":"Welcome","data":{"id":"x","node":"fake","keepalive":{"interval_ms":5000,"limit_ms":12000}}}`

// TestDialRaw: the handshake with a real coder/websocket server, a
// WebSocket ping answered before the Welcome, and a frame sent with the
// Welcome kept for the herd.
func TestDialRaw(t *testing.T) {
	pinged := make(chan error, 1)
	url := acceptingServer(t, func(ctx context.Context, c *websocket.Conn) {
		// Ping needs a reader for the pong; the client sends nothing else.
		go c.Read(ctx)
		pinged <- c.Ping(ctx)
		c.Write(ctx, websocket.MessageText, []byte(testWelcome))
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"Next"}`))
		c.Close(websocket.StatusNormalClosure, "")
	})
	d, err := dialRaw(t.Context(), testProtocol(url), url+"?id=a")
	if err != nil {
		t.Fatal(err)
	}
	defer d.conn.Close()
	if err := <-pinged; err != nil {
		t.Errorf("ping before the Welcome: %v", err)
	}
	if d.silence != 17*time.Second {
		t.Errorf("silence %v, want limit + interval = 17s", d.silence)
	}
	// The next frame may have come with the Welcome, or not yet.
	rest := d.rest
	for !bytes.Contains(rest, []byte(`{"type":"Next"}`)) {
		b := make([]byte, 512)
		n, err := d.conn.Read(b)
		if err != nil {
			t.Fatalf("the frame after the Welcome never came: %v (%q)", err, rest)
		}
		rest = append(rest, b[:n]...)
	}
	op, payload, _, err := d.frames.next(rest)
	if err != nil || op != wsproto.OpText || string(payload) != `{"type":"Next"}` {
		t.Errorf("after the Welcome: %#x %q, %v", op, payload, err)
	}
}

// TestDialRawRefuses: handshakes that are not what was asked for.
func TestDialRawRefuses(t *testing.T) {
	answer := func(status int, header http.Header) string {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range header {
				w.Header()[k] = v
			}
			if status == http.StatusSwitchingProtocols {
				w.Header().Set("Upgrade", "websocket")
				w.Header().Set("Connection", "Upgrade")
			}
			w.WriteHeader(status)
			w.Write([]byte("node says no"))
		}))
		t.Cleanup(hs.Close)
		return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	}
	tests := []struct {
		name, url, want string
	}{
		{"refused", answer(http.StatusServiceUnavailable, nil), `503 Service Unavailable, want 101: "node says no"`},
		{"wrong accept", answer(http.StatusSwitchingProtocols, http.Header{"Sec-Websocket-Accept": {"bm9wZQ=="}, "Sec-Websocket-Protocol": {"hotpot.json"}}), "Sec-WebSocket-Accept"},
		{"TLS", "wss://127.0.0.1:1/ws", "ws:// only"},
	}
	for _, tt := range tests {
		_, err := dialRaw(t.Context(), testProtocol(tt.url), tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one about %q", tt.name, err, tt.want)
		}
	}
	// A node that picks no subprotocol (coder/websocket with none in
	// common) does not speak hotpot.json.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"other"}})
		if err == nil {
			c.CloseNow()
		}
	}))
	defer other.Close()
	url := "ws" + strings.TrimPrefix(other.URL, "http")
	if _, err := dialRaw(t.Context(), testProtocol(url), url); err == nil || !strings.Contains(err.Error(), `subprotocol "", want "hotpot.json"`) {
		t.Errorf("no subprotocol: error %v", err)
	}
}

// FuzzFrameReader: whatever a node sends, the reader does not panic, and
// gives the same messages, or fails alike, however the bytes are split
// over reads.
func FuzzFrameReader(f *testing.F) {
	f.Add(serverFrame(true, wsproto.OpText, []byte(`{"type":"Ping"}`), 0), uint16(3))
	f.Add(append(serverFrame(false, wsproto.OpText, []byte("frag"), 0), serverFrame(true, wsproto.OpContinuation, []byte("ment"), 16)...), uint16(7))
	f.Add(append(serverFrame(true, wsproto.OpPing, []byte("x"), 64), serverFrame(true, wsproto.OpClose, wsproto.ClosePayload(uint16(websocket.StatusNormalClosure), ""), 0)...), uint16(12))
	f.Fuzz(func(t *testing.T, stream []byte, at uint16) {
		whole, wholeErr := parseStream(stream)
		split, splitErr := parseStream(stream, int(at))
		if (wholeErr != nil) != (splitErr != nil) || !slices.Equal(whole, split) {
			t.Fatalf("in one read: %q, %v; split at %d: %q, %v", whole, wholeErr, at, split, splitErr)
		}
	})
}
