package events

import "slices"

// Filter selects events; an empty field matches everything.
type Filter struct {
	// Types are the event types wanted.
	Types []string
	// Agent is the one agent id wanted.
	Agent string
	// Group keeps events of agents that were in this group.
	Group string
}

func (f Filter) match(e *Event) bool {
	return (len(f.Types) == 0 || slices.Contains(f.Types, e.Type)) &&
		(f.Agent == "" || f.Agent == e.Agent) &&
		(f.Group == "" || slices.Contains(e.Groups, f.Group))
}

// maxReadBytes bounds what one Read appends, so one subscriber holds the
// log's lock only briefly.
const maxReadBytes = 64 << 10

// ready is a closed channel: Read returns it when more events wait.
var ready = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Subscription is one subscriber's position in a Log. It is used by one
// goroutine at a time.
type Subscription struct {
	log    *Log
	filter Filter
	// cursor is the absolute index of the next event to look at.
	cursor uint64
	// maxLag is how far behind the log the subscriber may be before a
	// Read: half the retention further behind than after its last Read
	// (or than where it started).
	maxLag uint64
	// fromOldest is set, until its first Read, on a subscription that
	// replays from the oldest event kept: that Read starts at whatever is
	// oldest then, whatever was dropped since it subscribed.
	fromOldest bool
	// after skips the events up to it: set when the subscriber resumed
	// after an id this log had not seen yet.
	after  ID
	closed bool
}

// Read appends to buf the SSE frames of the matching events that arrived
// since the last Read (up to about 64 KiB), and returns a channel that is
// closed when there is more to read. It fails with ErrTooSlow once the
// subscriber has fallen half the log's retention further behind than it
// was after its last Read (so a live subscriber may lag half the
// retention, and one catching up on a replay may lose no ground beyond
// that), or once events it had not read were dropped; it can then resume
// with the last id it received.
func (s *Subscription) Read(buf []byte) ([]byte, <-chan struct{}, error) {
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.fromOldest {
		s.cursor, s.fromOldest = max(s.cursor, l.first), false
	}
	if s.cursor < l.first || l.next-s.cursor > s.maxLag {
		return buf, nil, ErrTooSlow
	}
	start := len(buf)
	for ; s.cursor < l.next && len(buf)-start < maxReadBytes; s.cursor++ {
		r := l.at(s.cursor)
		if s.after.Less(r.id) && s.filter.match(&r.event) {
			buf = append(buf, r.sse()...)
		}
	}
	s.maxLag = l.next - s.cursor + l.halfRetention()
	if s.cursor < l.next {
		return buf, ready, nil
	}
	return buf, l.wake, nil
}

// Close ends the subscription.
func (s *Subscription) Close() {
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if !s.closed {
		s.closed = true
		l.subscribers--
	}
}
