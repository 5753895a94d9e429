package sockets

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// backlogged connects a TCP agent whose client does not read, and pushes
// it frames until the node's writer is stuck with more queued behind.
func backlogged(t *testing.T, n *testNode) (*tcpClient, *agent) {
	t.Helper()
	cl := dialTCP(t, n)
	a := n.srv.lookup(cl.id)
	queued := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.queue.len()
	}
	big := codec.Payload{JSON: []byte(`"` + strings.Repeat("x", 30000) + `"`)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := n.srv.Push(cl.id, "Data", big); err != nil {
			t.Fatal(err)
		}
		if q := queued(); q >= 4 {
			time.Sleep(100 * time.Millisecond)
			if queued() == q { // the writer takes none: it is stuck
				return cl, a
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no backlog after 10 s of pushes")
		}
	}
}

// TestPingGoesAheadOfQueuedData: a Ping for an agent with a backlog
// leaves before the data queued ahead of it.
func TestPingGoesAheadOfQueuedData(t *testing.T) {
	n := startNode(t, func(cfg *config.Config) { cfg.SendQueue = 10000 })
	cl, a := backlogged(t, n)
	a.mu.Lock()
	queued := a.queue.len()
	a.mu.Unlock()
	a.Ping()
	for e := cl.read(); e.Type != "Ping"; e = cl.read() {
	}
	cl.timeout = time.Second
	for range queued { // what waited in the queue comes after the Ping
		if e := cl.read(); e.Type != "Data" {
			t.Fatalf("got %+v after the Ping, want the queued data", e)
		}
	}
}

// TestNoKeepaliveTimeoutWhileTheNodeIsBehind: an agent the node still
// owes a backlog is not closed for keepalive, however long that takes;
// its time counts from when the backlog is written, and its answer to the
// Ping counts then as any frame.
func TestNoKeepaliveTimeoutWhileTheNodeIsBehind(t *testing.T) {
	// A limit long enough for the client, on a busy machine, to read the
	// backlog's last bytes and answer once the node has written them.
	const limit = time.Second
	n := startNode(t, func(cfg *config.Config) {
		cfg.SendQueue = 10000
		cfg.KeepaliveInterval = limit / 3
		cfg.KeepaliveLimit = limit
	})
	cl, a := backlogged(t, n)
	time.Sleep(3 * limit) // three limits, and their sweeps, pass: the writer stays stuck
	if reason := closeReason(a); reason != "" {
		t.Fatalf("closed with %q while the node was still writing to it", reason)
	}
	for { // the client catches up, then answers the Ping
		// The backlog's 30 KB frames are skipped undecoded: a client slow
		// to read what the socket buffers hold once the node has caught
		// up would be late for the Ping, whatever the node does.
		if raw := cl.readRaw(); len(raw) < 1<<10 {
			if e, err := cl.c.Decode(raw); err == nil && e.Type == "Ping" {
				break
			}
		}
	}
	// It takes half a limit to answer: fine when the limit counts from
	// the backlog's end, too late when it counts from the last frame.
	time.Sleep(limit / 2)
	answered := time.Now().UnixNano()
	cl.writeFrame([]byte(`{"type":"Pong"}`))
	until(t, "the Pong counts", func() bool { return a.lastReceive.Load() >= answered })
	if reason := closeReason(a); reason != "" {
		t.Fatalf("closed with %q though it answered the Ping", reason)
	}
}

// closeReason returns why the node closes a, or "" while it does not.
func closeReason(a *agent) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closeReason
}

// TestSlowConsumerByBytes: an agent is a slow consumer once the frames
// waiting for it pass --send-queue-bytes, however few they are.
func TestSlowConsumerByBytes(t *testing.T) {
	const limit = 256 << 10
	n := startNode(t, func(cfg *config.Config) { cfg.SendQueue = 10000; cfg.SendQueueBytes = limit })
	cl, a := backlogged(t, n)
	a.mu.Lock()
	queuedBytes := a.queue.bytes
	a.mu.Unlock()
	big := codec.Payload{JSON: []byte(`"` + strings.Repeat("x", 30000) + `"`)}
	pushed := 0
	for ; pushed < 100; pushed++ {
		if err := n.srv.Push(cl.id, "Data", big); err != nil {
			if err != ErrQueueFull {
				t.Fatalf("push: %v, want ErrQueueFull", err)
			}
			break
		}
	}
	if most := (limit-queuedBytes)/30000 + 1; pushed > most {
		t.Fatalf("%d more frames of 30 KB queued behind %d bytes, want at most %d under --send-queue-bytes %d", pushed, queuedBytes, most, limit)
	}
	n.events.waitFor(t, func(e events.Event) bool {
		return e.Type == events.Disconnected && e.Agent == cl.id && e.Reason == ReasonSlowConsumer
	})
}

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

// TestPipelinedEchoesWaitForTheirReplies: a client that sends Echoes
// faster than it reads the replies is slowed down, not closed: the read
// loop stops reading while half the send queue waits, and every reply
// arrives once the client reads.
func TestPipelinedEchoesWaitForTheirReplies(t *testing.T) {
	const queue, echoes = 8, 2000
	n := startNode(t, func(cfg *config.Config) { cfg.SendQueue, cfg.RateLimit = queue, 0 })
	cl := dialTCP(t, n)
	a := n.srv.lookup(cl.id)
	// Small socket buffers both ways, so that the node's writes block
	// well before the echoes run out, whatever the kernel's autotuning
	// allows (not below a segment: TCP would stall).
	cl.conn.(*net.TCPConn).SetReadBuffer(64 << 10)
	a.link.(*tcpLink).conn.(*net.TCPConn).SetWriteBuffer(64 << 10)
	frame := appendFrame(nil, []byte(`{"type":"Echo","data":"`+strings.Repeat("x", 4000)+`"}`), cl.lenBytes)
	written := make(chan error, 1)
	go func() { // blocks once the node stops reading
		for range echoes {
			if _, err := cl.conn.Write(frame); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	until(t, "the replies fill half the queue", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.queue.full(n.srv.cfg.SendQueue, n.srv.cfg.SendQueueBytes) || a.closeReason != ""
	})
	time.Sleep(100 * time.Millisecond) // time for the read loop to overflow the queue, if it read on
	for i := range echoes {
		if e := cl.read(); e.Type != "Echo" {
			t.Fatalf("reply %d: got %s %q, want Echo", i, e.Type, e.Data)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if reason := closeReason(a); reason != "" {
		t.Fatalf("closed with %q", reason)
	}
}

// TestUnreadWriteTimeoutIsSlowConsumer: a client that keeps asking for
// answers and never reads is cut once a write to it has waited
// writeTimeout — the writer's (Echoes) or the read loop's own (the Pongs
// of WebSocket Pings) — and its agent.disconnected says slow consumer,
// not closed by client.
func TestUnreadWriteTimeoutIsSlowConsumer(t *testing.T) {
	n := startNode(t, func(cfg *config.Config) { cfg.RateLimit = 0 })
	for _, tc := range []struct {
		name string
		dial func(t *testing.T) (conn net.Conn, id string, asking []byte)
	}{
		{"Echo on TCP", func(t *testing.T) (net.Conn, string, []byte) {
			cl := dialTCP(t, n)
			return cl.conn, cl.id, appendFrame(nil, []byte(`{"type":"Echo","data":"`+strings.Repeat("x", 4000)+`"}`), cl.lenBytes)
		}},
		{"Ping on WebSocket", func(t *testing.T) (net.Conn, string, []byte) {
			c := dialWireWS(t, n, "/ws")
			var pings []byte
			for range 32 {
				pings = append(pings, wireFrame(true, 0, wsproto.OpPing, bytes.Repeat([]byte("p"), wsproto.MaxControlPayload), true)...)
			}
			return c.conn, c.id, pings
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits writeTimeout
			conn, id, asking := tc.dial(t)
			conn.(*net.TCPConn).SetReadBuffer(64 << 10)
			conn.SetWriteDeadline(time.Now().Add(writeTimeout + 10*time.Second))
			for { // until the node cuts the connection
				if _, err := conn.Write(asking); err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatal("the node did not cut a client that does not read")
					}
					break
				}
			}
			n.events.waitFor(t, func(e events.Event) bool {
				return e.Type == events.Disconnected && e.Agent == id && e.Reason == ReasonSlowConsumer
			})
		})
	}
}
