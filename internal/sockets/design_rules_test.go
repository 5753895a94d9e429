package sockets

import (
	"errors"
	"testing"

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
