package events

import (
	"errors"
	"sync"
	"time"
)

// ErrTooSlow ends a subscription that fell too far behind the log. The
// subscriber may come back with the last id it received.
var ErrTooSlow = errors.New("subscriber too slow: reconnect with Last-Event-ID")

// Log keeps the last events of the node in order, each with its ID, and
// wakes subscribers when events arrive. An event's SSE frame is encoded
// once, by the first subscriber that reads it, so appending stays cheap
// on the agents' goroutines. Its methods are safe for concurrent use and
// never block on subscribers.
type Log struct {
	mu sync.Mutex // guards the fields below
	// ring holds the kept events; record abs lives at ring[abs%len(ring)].
	ring []record
	// first is the absolute index of the oldest kept event, next the one
	// the next event gets.
	first, next uint64
	// last is the ID given most recently.
	last ID
	// wake is closed, and replaced, whenever an event is appended.
	wake chan struct{}
	// subscribers counts open subscriptions.
	subscribers int
	// bytes is about how much memory the kept events hold; maxBytes bounds it.
	bytes, maxBytes int
}

type record struct {
	id    ID
	event Event
	// size is about how much memory the record holds, its SSE frame
	// included.
	size int
	// frame is the SSE frame, encoded on first read; guarded by Log.mu.
	frame []byte
}

// recordOverhead is about what a record holds besides its data: ids,
// times, the SSE frame's fixed text.
const recordOverhead = 512

// SizeOf is about how much memory e holds in a log: its data twice (the
// event and its SSE frame), plus the overhead. Logs and queues of events
// are bounded in bytes by it.
func SizeOf(e Event) int {
	return 2*(len(e.Data.JSON)+len(e.Data.Bytes)*4/3) + len(e.Groups)*32 + recordOverhead
}

// sse returns the record's SSE frame, encoding it the first time; l.mu
// must be held.
func (r *record) sse() []byte {
	if r.frame == nil {
		r.frame = sseFrame(r.id, r.event)
	}
	return r.frame
}

// NewLog returns a log keeping the last retention events (at least one),
// as long as they hold about maxBytes of memory or less; beyond either
// bound it drops the oldest.
func NewLog(retention, maxBytes int) *Log {
	return &Log{ring: make([]record, max(retention, 1)), maxBytes: maxBytes, wake: make(chan struct{})}
}

// Add adds e with the id the cluster's stream gave it, dropping the
// oldest events when the log is full. An id that does not follow the last
// one is moved up to follow it, so the log stays in order.
func (l *Log) Add(id ID, e Event) {
	size := SizeOf(e)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.Less(id) {
		id = ID{MS: l.last.MS, Seq: l.last.Seq + 1}
	}
	l.last = id
	for l.next-l.first == uint64(len(l.ring)) || l.first < l.next && l.bytes+size > l.maxBytes {
		l.dropOldestLocked()
	}
	l.ring[l.next%uint64(len(l.ring))] = record{id: id, event: e, size: size}
	l.next++
	l.bytes += size
	close(l.wake)
	l.wake = make(chan struct{})
}

// dropOldestLocked forgets the oldest event; l.mu must be held.
func (l *Log) dropOldestLocked() {
	r := l.at(l.first)
	l.bytes -= r.size
	*r = record{}
	l.first++
}

// Subscribers returns how many subscriptions are open.
func (l *Log) Subscribers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.subscribers
}

// Subscribe opens a subscription to the events that match f. With an
// empty lastEventID it starts with the next event appended. Otherwise it
// starts right after that event — also when the id is newer than every
// event kept but not from the future: another node of the cluster gave
// it, and this one has yet to see it and those before it. When the id is
// unknown or older than the oldest event kept, it starts with the oldest
// kept when it first reads and replayedFromOldest is true. The caller
// must Close the subscription.
func (l *Log) Subscribe(f Filter, lastEventID string) (s *Subscription, replayedFromOldest bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subscribers++
	s = &Subscription{log: l, filter: f, cursor: l.next}
	if lastEventID != "" {
		if abs, ok := l.findLocked(lastEventID); ok {
			s.cursor = abs + 1
		} else if id, ok := l.aheadLocked(lastEventID); ok {
			s.after = id
		} else {
			s.cursor, s.fromOldest, replayedFromOldest = l.first, true, true
		}
	}
	s.maxLag = l.next - s.cursor + l.halfRetention()
	return s, replayedFromOldest
}

// findLocked returns the absolute index of the event whose id has the
// text form lastEventID, if kept.
func (l *Log) findLocked(lastEventID string) (uint64, bool) {
	id, err := ParseID(lastEventID)
	if err != nil {
		return 0, false
	}
	lo, hi := l.first, l.next
	for lo < hi {
		mid := lo + (hi-lo)/2
		if l.at(mid).id.Less(id) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < l.next && l.at(lo).id == id {
		return lo, true
	}
	return 0, false
}

// clockSlack is how far in the future an event id may be and still be
// taken for one of the cluster's: ids are times of the stream's clock.
const clockSlack = time.Minute

// aheadLocked parses lastEventID and reports whether it is newer than
// every event kept, yet no later than now (give or take clockSlack).
func (l *Log) aheadLocked(lastEventID string) (ID, bool) {
	id, err := ParseID(lastEventID)
	if err != nil || id.MS > uint64(time.Now().Add(clockSlack).UnixMilli()) {
		return ID{}, false
	}
	if l.next > l.first && !l.at(l.next-1).id.Less(id) {
		return ID{}, false
	}
	return id, true
}

// halfRetention is how much ground a subscriber may lose between reads.
func (l *Log) halfRetention() uint64 { return uint64(len(l.ring)/2 + 1) }

func (l *Log) at(abs uint64) *record { return &l.ring[abs%uint64(len(l.ring))] }
