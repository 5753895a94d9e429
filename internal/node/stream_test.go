package node

import (
	"testing"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/metrics"
)

// TestOutboxKeepsTheNewest: a full outbox drops its oldest events. Those
// of a batch being appended meanwhile count as dropped only if the
// append fails; either way the events after them stay.
func TestOutboxKeepsTheNewest(t *testing.T) {
	ev := func(agent string) events.Event { return events.Event{Type: events.Connected, Agent: agent} }
	for _, appended := range []bool{true, false} {
		o := newOutbox(3, 1<<20, metrics.New(func() int { return 0 }))
		o.add(ev("a"))
		o.add(ev("b"))
		batch, from, _ := o.peek(2) // a, b are being appended
		o.add(ev("c"))
		o.add(ev("d"))
		o.add(ev("e")) // drops a, b from the queue
		wantDropped := 0
		if appended {
			o.remove(from, len(batch))
		} else {
			o.unsent()
			wantDropped = 2
		}
		rest, _, dropped := o.peek(10)
		if dropped != wantDropped || len(rest) != 3 || rest[0].Agent != "c" || rest[2].Agent != "e" {
			t.Fatalf("append succeeded %v: %d dropped, %+v; want %d dropped, c, d, e", appended, dropped, rest, wantDropped)
		}
	}

	big := events.Event{Type: events.Message, Data: codec.Payload{JSON: make([]byte, 600<<10)}}
	o := newOutbox(100, 2*events.SizeOf(big), metrics.New(func() int { return 0 }))
	o.add(big)
	o.add(big)
	o.add(big) // over the byte bound: the first goes
	if n, bytes := o.len(), o.bytes; n != 2 || bytes != 2*events.SizeOf(big) {
		t.Fatalf("%d events of %d bytes kept, want 2 of %d", n, bytes, 2*events.SizeOf(big))
	}
}
