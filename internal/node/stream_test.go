package node

import (
	"testing"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/metrics"
)

// TestOutboxKeepsTheNewest: a full outbox drops its oldest events, and a
// batch taken before drops is removed without losing the events after it.
func TestOutboxKeepsTheNewest(t *testing.T) {
	o := newOutbox(3, 1<<20, metrics.New(func() int { return 0 }))
	ev := func(agent string) events.Event { return events.Event{Type: events.Connected, Agent: agent} }
	o.add(ev("a"))
	o.add(ev("b"))
	batch, from, _ := o.peek(2) // a, b are being published
	o.add(ev("c"))
	o.add(ev("d"))
	o.add(ev("e")) // drops a, b
	o.remove(from, len(batch))
	rest, _, dropped := o.peek(10)
	if dropped != 2 || len(rest) != 3 || rest[0].Agent != "c" || rest[2].Agent != "e" {
		t.Fatalf("after the drops: %d dropped, %+v; want c, d, e", dropped, rest)
	}

	big := events.Event{Type: events.Message, Data: codec.Payload{JSON: make([]byte, 600<<10)}}
	o = newOutbox(100, 2*events.SizeOf(big), metrics.New(func() int { return 0 }))
	o.add(big)
	o.add(big)
	o.add(big) // over the byte bound: the first goes
	if n, bytes := o.len(), o.bytes; n != 2 || bytes != 2*events.SizeOf(big) {
		t.Fatalf("%d events of %d bytes kept, want 2 of %d", n, bytes, 2*events.SizeOf(big))
	}
}
