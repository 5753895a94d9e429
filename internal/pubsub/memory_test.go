package pubsub

import (
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/events"
)

// TestMemoryStreamBoundedInBytes: big events are dropped by the byte
// bound long before the count bound.
func TestMemoryStreamBoundedInBytes(t *testing.T) {
	big := events.Event{Type: events.Message, Time: time.Now(), Data: codec.Payload{JSON: []byte(`"` + strings.Repeat("x", 64<<10) + `"`)}}
	m := NewMemory("a", 1000, 10*events.SizeOf(big))
	defer m.Close()
	for range 50 {
		if err := m.Append(t.Context(), []events.Event{big}); err != nil {
			t.Fatal(err)
		}
	}
	if kept, _ := m.Newest(t.Context(), 1000); len(kept) != 10 {
		t.Fatalf("kept %d events of 64 KiB, want the 10 the byte bound allows", len(kept))
	}
}
