package pubsub

import (
	"testing"

	"github.com/hotpot-rt/hotpot/internal/events"
)

// TestStreamWindowBounds: the window holds no more entries than the
// stream's count bound, and those it lets go for the count do not count
// towards a trim by bytes, which Redis has made already.
func TestStreamWindowBounds(t *testing.T) {
	w := newStreamWindow(1000, 3)
	for i := range 10 {
		w.add(events.ID{MS: uint64(i + 1)}, 10)
	}
	if n := len(w.entries) - w.head; n != 3 {
		t.Fatalf("the window holds %d entries, want 3", n)
	}
	if id, ok := w.trimPoint(); ok {
		t.Fatalf("trim point %v after entries left by count only, want none", id)
	}
	w = newStreamWindow(100, 1000)
	for i := range 20 { // 200 bytes through a 100-byte window
		w.add(events.ID{MS: uint64(i + 1)}, 10)
	}
	if id, ok := w.trimPoint(); !ok || id != (events.ID{MS: 11}) {
		t.Fatalf("trim point %v, %v after 200 bytes through a 100-byte window, want 11-0", id, ok)
	}
}
