package sockets

import (
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
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
		return len(a.queue)
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
	queued := len(a.queue)
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
// its time counts from when the backlog is written.
func TestNoKeepaliveTimeoutWhileTheNodeIsBehind(t *testing.T) {
	n := startNode(t, func(cfg *config.Config) {
		cfg.SendQueue = 10000
		cfg.KeepaliveInterval = 50 * time.Millisecond
		cfg.KeepaliveLimit = 150 * time.Millisecond
	})
	cl, a := backlogged(t, n)
	time.Sleep(600 * time.Millisecond) // four limits, and sweeps, pass
	a.mu.Lock()
	closed := a.closeReason
	a.mu.Unlock()
	if closed != "" {
		t.Fatalf("closed with %q while the node was still writing to it", closed)
	}
	for { // the client catches up, then answers the Ping
		if e := cl.read(); e.Type == "Ping" {
			break
		}
	}
	cl.writeFrame([]byte(`{"type":"Pong"}`))
	time.Sleep(100 * time.Millisecond)
	if a.mu.Lock(); a.closeReason != "" {
		t.Fatalf("closed with %q after it answered", a.closeReason)
	}
	a.mu.Unlock()
}
