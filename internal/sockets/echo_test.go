package sockets

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

// seedEcho is what the seed's echo example sends; it must come back byte
// for byte.
var seedEcho = []byte(`{"type":"Echo","data":{"Message":"你好,火锅!"}}`)

func TestSeedEchoWebSocket(t *testing.T) {
	n := startNode(t, nil)
	for _, path := range []string{"/", "/ws"} {
		t.Run(path, func(t *testing.T) {
			cl := dialWS(t, n, path)
			cl.writeRaw(websocket.MessageText, seedEcho)
			if got := cl.readRaw(); !bytes.Equal(got, seedEcho) {
				t.Fatalf("echo = %s, want %s", got, seedEcho)
			}
		})
	}
}

func TestSeedEchoTCP(t *testing.T) {
	for _, lenBytes := range []int{2, 4} {
		t.Run(string(rune('0'+lenBytes))+"-byte prefix", func(t *testing.T) {
			n := startNode(t, func(c *config.Config) { c.TCPLenBytes = lenBytes })
			cl := dialTCP(t, n)
			cl.writeFrame(seedEcho)
			if got := cl.readRaw(); !bytes.Equal(got, seedEcho) {
				t.Fatalf("echo = %s, want %s", got, seedEcho)
			}
		})
	}
}

func TestWelcome(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.KeepaliveInterval = 7000e6
		c.KeepaliveLimit = 15000e6
	})
	cl := dialWS(t, n, "/ws?id=player-1")
	if cl.id != "player-1" {
		t.Fatalf("Welcome id = %q, want player-1", cl.id)
	}
	cl2 := dialWS(t, n, "/ws")
	if !ValidID(cl2.id) || cl2.id == cl.id {
		t.Fatalf("generated id %q", cl2.id)
	}
	tc := dialTCP(t, n)
	if !ValidID(tc.id) {
		t.Fatalf("generated TCP id %q", tc.id)
	}
	// The full Welcome, as a client sees it.
	raw := dialWSRawWelcome(t, n, "/ws?id=w")
	want := `{"type":"Welcome","data":{"id":"w","node":"test-node","keepalive":{"interval_ms":7000,"limit_ms":15000}}}`
	if string(raw) != want {
		t.Fatalf("Welcome = %s\nwant      %s", raw, want)
	}
	n.events.waitFor(t, func(e events.Event) bool {
		return e.Type == events.Connected && e.Agent == "w" && e.Node == "test-node"
	})
}

// dialWSRawWelcome connects and returns the first frame as received.
func dialWSRawWelcome(t *testing.T, n *testNode, path string) []byte {
	cl := &wsClient{t: t, c: codec.JSON}
	ctx := t.Context()
	conn, _, err := websocket.Dial(ctx, n.wsURL(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	cl.conn = conn
	return cl.readRaw()
}

// TestCodecs runs the built-ins through each codec, chosen by subprotocol
// and by query.
func TestCodecs(t *testing.T) {
	n := startNode(t, nil)
	for _, tc := range []struct {
		name, path string
		protos     []string
	}{
		{"json subprotocol", "/ws", []string{"hotpot.json"}},
		{"msgpack subprotocol", "/ws", []string{"hotpot.msgpack"}},
		{"proto subprotocol", "/ws", []string{"hotpot.proto"}},
		{"msgpack query", "/ws?codec=msgpack", nil},
		{"proto query", "/?codec=proto", nil},
		{"subprotocol wins over query", "/ws?codec=json", []string{"hotpot.msgpack"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := dialWS(t, n, tc.path, tc.protos...)
			if tc.protos != nil && cl.c.Name() != tc.protos[0][len("hotpot."):] {
				t.Fatalf("codec %s, want %s", cl.c.Name(), tc.protos[0])
			}
			// Ping → Pong.
			cl.write(codec.Envelope{Type: "Ping"})
			if e := cl.read(); e.Type != "Pong" {
				t.Fatalf("got %+v, want Pong", e)
			}
			// Echo: the same frame back.
			data, err := cl.c.Data(codec.Payload{JSON: []byte(`{"n":1,"s":"ü"}`)})
			if err != nil {
				t.Fatal(err)
			}
			frame, _ := cl.c.Encode(codec.Envelope{Type: "Echo", ID: "9", Data: data})
			typ := websocket.MessageText
			if cl.c.Binary() {
				typ = websocket.MessageBinary
			}
			cl.writeRaw(typ, frame)
			if got := cl.readRaw(); !bytes.Equal(got, frame) {
				t.Fatalf("echo = %x, want %x", got, frame)
			}
			// Any other type becomes an agent.message event.
			cl.write(codec.Envelope{Type: "Chat", ID: "m1", Data: data})
			e := n.events.waitFor(t, func(e events.Event) bool { return e.Type == events.Message && e.Agent == cl.id })
			if e.MessageType != "Chat" || e.MessageID != "m1" {
				t.Fatalf("event %+v", e)
			}
			got := e.Data.JSON
			if cl.c == codec.Proto {
				got = e.Data.Bytes
			}
			if !jsonEqual(t, got, []byte(`{"n":1,"s":"ü"}`)) {
				t.Fatalf("event data %s", got)
			}
		})
	}
}

// TestWebSocketFrameLengths echoes frames at the edges of the WebSocket
// length encodings (7-bit, 16-bit, 64-bit), which the node writes itself.
func TestWebSocketFrameLengths(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.MaxMessageBytes = 1 << 17 })
	cl := dialWS(t, n, "/ws")
	for _, size := range []int{30, 125, 126, 127, 65535, 65536, 70000} {
		prefix := `{"type":"Echo","data":"`
		frame := []byte(prefix + strings.Repeat("x", size-len(prefix)-2) + `"}`)
		cl.writeRaw(websocket.MessageText, frame)
		if got := cl.readRaw(); !bytes.Equal(got, frame) {
			t.Fatalf("%d-byte frame came back as %d bytes", size, len(got))
		}
	}
}

// undecodable holds, per codec, a frame its decoder refuses.
var undecodable = map[string][]byte{
	"json":    []byte(`{"type":`),
	"msgpack": {0xc1},                 // a byte msgpack never uses
	"proto":   {0x0a, 0x05, 'E', 'c'}, // field 1 claims 5 bytes and has 2
}

// nonCanonical holds, by codec, Echo frames that none of the node's
// encoders would write: extra spaces, another key order, escapes,
// non-minimal msgpack encodings, protobuf fields out of order, an
// overlong length and an unknown field. Echo must send each back as it
// came, not decode and encode it again.
var nonCanonical = map[string][]byte{
	"json": []byte(` { "data" : {"b" : 1.50, "a":"\u4f60\u597d"} ,"id":"\u4e03",  "type" : "\u0045cho" } `),
	"msgpack": {
		0xde, 0x00, 0x03, // a map16 of 3 pairs
		0xd9, 0x04, 't', 'y', 'p', 'e', // a str8 key
		0xda, 0x00, 0x04, 'E', 'c', 'h', 'o', // a str16 value
		0xa2, 'i', 'd', 0xd9, 0x01, '7',
		0xa4, 'd', 'a', 't', 'a', 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, // 7 as a uint64
	},
	"proto": {
		0x12, 0x02, 'h', 'i', // data before type
		0x48, 0x01, // field 9, unknown
		0x0a, 0x84, 0x00, 'E', 'c', 'h', 'o', // type, its length an overlong varint
		0x1a, 0x01, '7',
	},
}

// TestEchoIsByteForByte: Echo sends back the frame as received, in every
// codec and on both transports, even where decoding and encoding it again
// would change its bytes.
func TestEchoIsByteForByte(t *testing.T) {
	ws := startNode(t, nil)
	for _, name := range []string{"json", "msgpack", "proto"} {
		frame := nonCanonical[name]
		c, _ := codec.Lookup(name)
		e, err := c.Decode(frame)
		if err != nil || e.Type != "Echo" {
			t.Fatalf("%s frame decodes to %+v, %v: want an Echo", name, e, err)
		}
		if again, _ := c.Encode(e); bytes.Equal(again, frame) {
			t.Fatalf("the %s frame is what the codec encodes: it cannot tell an echo from a re-encoding", name)
		}
		t.Run(name+"/ws", func(t *testing.T) {
			cl := dialWS(t, ws, "/ws", "hotpot."+name)
			typ := websocket.MessageText
			if c.Binary() {
				typ = websocket.MessageBinary
			}
			cl.writeRaw(typ, frame)
			if got := cl.readRaw(); !bytes.Equal(got, frame) {
				t.Fatalf("echo = %q, want %q", got, frame)
			}
		})
		t.Run(name+"/tcp", func(t *testing.T) {
			n := startNode(t, func(c *config.Config) { c.TCPCodec = name })
			cl := dialTCP(t, n)
			cl.writeFrame(frame)
			if got := cl.readRaw(); !bytes.Equal(got, frame) {
				t.Fatalf("echo = %q, want %q", got, frame)
			}
		})
	}
}

// TestFrameTypes: JSON agents get text WebSocket frames, msgpack and proto
// agents binary ones, whatever the node sends them: Welcome, Pong, Echo,
// Error, an event, Kicked.
func TestFrameTypes(t *testing.T) {
	n := startNode(t, nil)
	for name, want := range map[string]websocket.MessageType{
		"json":    websocket.MessageText,
		"msgpack": websocket.MessageBinary,
		"proto":   websocket.MessageBinary,
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := codec.Lookup(name)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, n.wsURL("/ws?id=types-"+name), &websocket.DialOptions{Subprotocols: []string{"hotpot." + name}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			expect := func(typ string) codec.Envelope {
				t.Helper()
				got, frame, err := conn.Read(ctx)
				if err != nil {
					t.Fatalf("waiting for %s: %v", typ, err)
				}
				e, err := c.Decode(frame)
				if err != nil || e.Type != typ {
					t.Fatalf("got %+v (%v), want %s", e, err, typ)
				}
				if got != want {
					t.Errorf("%s came in a %v frame, want %v", typ, got, want)
				}
				return e
			}
			write := func(frame []byte) {
				t.Helper()
				if err := conn.Write(ctx, want, frame); err != nil {
					t.Fatal(err)
				}
			}
			expect("Welcome")
			ping, _ := c.Encode(codec.Envelope{Type: "Ping"})
			write(ping)
			expect("Pong")
			write(nonCanonical[name])
			expect("Echo")
			typeless, _ := c.Encode(codec.Envelope{ID: "1"})
			write(typeless)
			if e := expect("Error"); e.Code != 400 || e.Msg == "" {
				t.Errorf("a frame without a type: %+v, want Error 400 with a message", e)
			}
			write(undecodable[name]) // and the connection stays open
			if e := expect("Error"); e.Code != 400 || e.Msg == "" {
				t.Errorf("an undecodable frame: %+v, want Error 400 with a message", e)
			}
			if err := n.srv.Push("types-"+name, "Notice", codec.Payload{JSON: []byte(`{"n":1}`)}); err != nil {
				t.Fatal(err)
			}
			expect("Notice")
			n.srv.Kick("types-"+name, ReasonKicked)
			expect("Kicked")
		})
	}
}

// TestTCPCodecs: each --tcp-codec carries a TCP agent's whole session:
// Welcome, Ping and Pong, a call and its Reply, an agent.message, an Error
// and Kicked.
func TestTCPCodecs(t *testing.T) {
	for _, name := range []string{"json", "msgpack", "proto"} {
		t.Run(name, func(t *testing.T) {
			n := startNode(t, func(c *config.Config) { c.TCPCodec = name })
			cl := dialTCP(t, n) // its Welcome read in the codec
			if info, err := n.srv.Agent(cl.id); err != nil || info.Codec != name || info.Transport != TransportTCP {
				t.Fatalf("agent %+v, %v: want a TCP agent of codec %s", info, err, name)
			}
			cl.write(codec.Envelope{Type: "Ping"})
			if e := cl.read(); e.Type != "Pong" {
				t.Fatalf("got %+v, want Pong", e)
			}

			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			type result struct {
				data codec.Payload
				err  error
			}
			called := make(chan result, 1)
			go func() {
				data, err := n.srv.Call(ctx, cl.id, "Add", codec.Payload{JSON: []byte(`{"a":1}`)})
				called <- result{data, err}
			}()
			call := cl.read()
			var args struct{ A int }
			if cl.decodeData(call, &args); call.Type != "Add" || call.ID == "" || args.A != 1 {
				t.Fatalf("call %+v, want Add {\"a\":1} with an id", call)
			}
			cl.write(codec.Envelope{Type: "Reply", ID: call.ID, Data: call.Data})
			if r := <-called; r.err != nil || !jsonEqual(t, r.data.Raw(), []byte(`{"a":1}`)) {
				t.Fatalf("call answered %s, %v", r.data.Raw(), r.err)
			}

			data, _ := cl.c.Data(codec.Payload{JSON: []byte(`{"n":2}`)})
			cl.write(codec.Envelope{Type: "Chat", Data: data})
			e := n.events.waitFor(t, func(e events.Event) bool { return e.Type == events.Message && e.Agent == cl.id })
			if e.MessageType != "Chat" || !jsonEqual(t, e.Data.Raw(), []byte(`{"n":2}`)) {
				t.Fatalf("event %+v", e)
			}

			cl.write(codec.Envelope{ID: "no type"})
			if e := cl.read(); e.Type != "Error" || e.Code != 400 {
				t.Fatalf("got %+v, want Error 400", e)
			}
			n.srv.Kick(cl.id, "bye")
			if reason := cl.expectClose(); reason != "bye" {
				t.Fatalf("Kicked %q, want bye", reason)
			}
		})
	}
}
