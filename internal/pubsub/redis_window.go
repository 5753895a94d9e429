package pubsub

import (
	"sync"

	"github.com/hotpot-rt/hotpot/internal/events"
)

// streamWindow follows the newest entries of the event stream, in order,
// to bound the stream's bytes: Redis trims a stream by count or by id,
// never by size, so the window finds the id before which the entries are
// over the byte budget. Its methods are safe for concurrent use.
type streamWindow struct {
	maxBytes int // 0: no byte bound
	// maxEntries is the stream's count bound: older entries, which Redis
	// trims itself, leave the window without counting towards a trim.
	maxEntries int

	mu sync.Mutex // guards the fields below
	// entries[head:] are the ids and sizes of the entries in the window,
	// oldest first; those before head have left it.
	entries []windowEntry
	head    int
	// bytes is the sum of the entries' sizes.
	bytes int
	// droppedBytes counts the bytes that left the window since the last
	// trim point was handed out.
	droppedBytes int
}

// windowEntry is one stream entry's id and size.
type windowEntry struct {
	id   events.ID
	size int
}

func newStreamWindow(maxBytes, maxEntries int) *streamWindow {
	return &streamWindow{maxBytes: maxBytes, maxEntries: maxEntries}
}

// add records an entry that follows every entry added before it (an
// older or repeated one is ignored), dropping the oldest while the window
// is over its bytes.
func (w *streamWindow) add(id events.ID, size int) {
	if w.maxBytes <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.entries); n > w.head && !w.entries[n-1].id.Less(id) {
		return
	}
	w.entries = append(w.entries, windowEntry{id, size})
	w.bytes += size
	for len(w.entries)-w.head > w.maxEntries {
		w.bytes -= w.entries[w.head].size
		w.head++
	}
	for w.bytes > w.maxBytes && w.head < len(w.entries)-1 {
		w.bytes -= w.entries[w.head].size
		w.droppedBytes += w.entries[w.head].size
		w.head++
	}
	if w.head > len(w.entries)/2 { // amortised: each entry moves once
		w.entries = append(w.entries[:0], w.entries[w.head:]...)
		w.head = 0
	}
}

// trimPoint returns the oldest id the window holds when entries worth an
// eighth of the byte budget have left it since the last trim point.
func (w *streamWindow) trimPoint() (events.ID, bool) {
	if w.maxBytes <= 0 {
		return events.ID{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.droppedBytes < w.maxBytes/8 || w.head == len(w.entries) {
		return events.ID{}, false
	}
	w.droppedBytes = 0
	return w.entries[w.head].id, true
}
