package sockets

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

func TestCall(t *testing.T) {
	n := startNode(t, nil)
	// A deadline, so that a call that never ends fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	t.Run("reply", func(t *testing.T) {
		for _, proto := range []string{"hotpot.json", "hotpot.msgpack", "hotpot.proto"} {
			cl := dialWS(t, n, "/ws", proto)
			go func() {
				call := cl.read()
				cl.write(codec.Envelope{Type: "Reply", ID: call.ID, Data: call.Data})
			}()
			got, err := n.srv.Call(ctx, cl.id, "Add", codec.Payload{JSON: []byte(`{"a":1}`)})
			if err != nil {
				t.Fatalf("%s: %v", proto, err)
			}
			data := got.JSON
			if proto == "hotpot.proto" {
				data = got.Bytes
			}
			if !jsonEqual(t, data, []byte(`{"a":1}`)) {
				t.Fatalf("%s: reply data %s", proto, data)
			}
		}
	})

	t.Run("call frame", func(t *testing.T) {
		cl := dialWS(t, n, "/ws")
		go n.srv.Call(ctx, cl.id, "Add", codec.Payload{JSON: []byte(`[1,2]`)})
		call := cl.read()
		if call.Type != "Add" || call.ID == "" || string(call.Data) != `[1,2]` {
			t.Fatalf("call frame %+v", call)
		}
		cl.write(codec.Envelope{Type: "Reply", ID: call.ID})
	})

	t.Run("client error", func(t *testing.T) {
		cl := dialTCP(t, n)
		go func() {
			call := cl.read()
			cl.write(codec.Envelope{Type: "Reply", ID: call.ID, Code: 42, Msg: "no such item"})
		}()
		_, err := n.srv.Call(ctx, cl.id, "Buy", codec.Payload{})
		var re *ReplyError
		if !errors.As(err, &re) || re.Code != 42 || re.Msg != "no such item" {
			t.Fatalf("err = %v, want ReplyError 42", err)
		}
	})

	t.Run("timeout and late reply", func(t *testing.T) {
		cl := dialWS(t, n, "/ws")
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		before := testutil.ToFloat64(n.srv.metrics.LateReplies)
		_, err := n.srv.Call(tctx, cl.id, "Slow", codec.Payload{})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		call := cl.read()
		cl.write(codec.Envelope{Type: "Reply", ID: call.ID})
		cl.write(codec.Envelope{Type: "Reply", ID: "no-such-call"})
		cl.write(codec.Envelope{Type: "Ping"})
		cl.read() // Pong: both replies were handled before it
		if got := testutil.ToFloat64(n.srv.metrics.LateReplies) - before; got != 2 {
			t.Fatalf("late replies counted %v, want 2", got)
		}
	})

	t.Run("agent leaves mid-call", func(t *testing.T) {
		cl := dialWS(t, n, "/ws")
		go func() {
			cl.read()
			cl.conn.CloseNow()
		}()
		_, err := n.srv.Call(ctx, cl.id, "Bye", codec.Payload{})
		if !errors.Is(err, ErrAgentGone) {
			t.Fatalf("err = %v, want ErrAgentGone", err)
		}
	})

	t.Run("no such agent", func(t *testing.T) {
		if _, err := n.srv.Call(ctx, "nobody", "X", codec.Payload{}); !errors.Is(err, ErrAgentNotFound) {
			t.Fatalf("err = %v, want ErrAgentNotFound", err)
		}
	})

	t.Run("bytes that are not JSON for a JSON client", func(t *testing.T) {
		cl := dialWS(t, n, "/ws")
		if _, err := n.srv.Call(ctx, cl.id, "X", codec.Payload{Bytes: []byte{0xff}}); !errors.Is(err, codec.ErrNotJSON) {
			t.Fatalf("err = %v, want ErrNotJSON", err)
		}
	})
}

func TestPushAndBroadcast(t *testing.T) {
	n := startNode(t, nil)
	a := dialWS(t, n, "/ws", "hotpot.json")
	b := dialWS(t, n, "/ws", "hotpot.msgpack")
	c := dialWS(t, n, "/ws", "hotpot.proto")
	d := dialTCP(t, n)

	if err := n.srv.Push(a.id, "Score", codec.Payload{JSON: []byte(`{"n":3}`)}); err != nil {
		t.Fatal(err)
	}
	if e := a.read(); e.Type != "Score" || string(e.Data) != `{"n":3}` || e.ID != "" {
		t.Fatalf("push got %+v", e)
	}
	if err := n.srv.Push("nobody", "Score", codec.Payload{}); !errors.Is(err, ErrAgentNotFound) {
		t.Fatalf("push to nobody: %v", err)
	}

	if got := n.srv.Broadcast(encoded(n, "Tick", codec.Payload{JSON: []byte(`{"t":1}`)})); got != 4 {
		t.Fatalf("broadcast delivered %d, want 4", got)
	}
	for _, cl := range []*wsClient{a, b, c} {
		e := cl.read()
		var v struct{ T int }
		cl.decodeData(e, &v)
		if e.Type != "Tick" || v.T != 1 {
			t.Fatalf("%s client got %+v", cl.c.Name(), e)
		}
	}
	if e := d.read(); e.Type != "Tick" || string(e.Data) != `{"t":1}` {
		t.Fatalf("tcp client got %+v", e)
	}
	// Opaque bytes reach only the proto client.
	if got := n.srv.Broadcast(encoded(n, "Blob", codec.Payload{Bytes: []byte{1, 2, 3}})); got != 1 {
		t.Fatalf("broadcast of bytes delivered %d, want 1", got)
	}
	if e := c.read(); e.Type != "Blob" || string(e.Data) != "\x01\x02\x03" {
		t.Fatalf("proto client got %+v", e)
	}
}
