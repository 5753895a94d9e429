package sockets

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestIdleAgentStackShrinks: an agent whose client wakes it after a
// silence goes back to waiting on a small stack. Handling a frame grows
// the read loop's stack; once 200 clients have each sent one more frame
// after a silence of over freshAfter, their loops hold at least 1 KiB of
// stack less each.
func TestIdleAgentStackShrinks(t *testing.T) {
	const agents = 200
	n := startNode(t, nil)
	clients := make([]*wireClient, agents)
	for i := range clients {
		clients[i] = dialWireWS(t, n, fmt.Sprintf("/ws?id=idle-%d", i))
		clients[i].echo(seedEcho)
	}
	grown := stackInUse()
	time.Sleep(freshAfter + 100*time.Millisecond) // the silence, not a wait for the node
	for _, c := range clients {
		c.echo(seedEcho)
	}
	// Each loop moves to its fresh goroutine just after its answer.
	deadline := time.Now().Add(5 * time.Second)
	for {
		saved := (int64(grown) - int64(stackInUse())) / agents
		if saved >= 1024 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agents' read loops hold %d bytes of stack less each after waking from a silence, want at least 1024", saved)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stackInUse returns the bytes of goroutine stacks in use.
func stackInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}
