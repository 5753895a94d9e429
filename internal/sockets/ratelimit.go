package sockets

import (
	"strconv"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/config"
)

// rateLimit is the node's limit on the frames each agent sends
// (--rate-limit, --rate-burst): every agent has a token bucket that holds
// up to burst frames and refills at the limit's rate, and every frame it
// sends — Ping, Pong and Reply included, and a WebSocket client's Ping
// and Pong control frames — takes one. A frame that finds the bucket
// empty is refused: answered with Error 429 and not handled (a refused
// WebSocket Ping gets no Pong). Only a WebSocket close is not counted: it
// ends the connection.
// An agent that has more than burst frames refused before its bucket is
// full again is closed with reason rate limited.
//
// Set by New and read-only afterwards.
type rateLimit struct {
	// perNs is the refill rate in frames per nanosecond; 0 means no limit.
	perNs float64
	// burst is the size of the bucket, and how many refused frames it
	// takes to close an agent.
	burst int
}

func newRateLimit(cfg config.Config) rateLimit {
	return rateLimit{perNs: cfg.RateLimit / float64(time.Second), burst: cfg.RateBurst}
}

// on reports whether frames are limited at all.
func (l rateLimit) on() bool { return l.perNs > 0 }

// rateLimitedMessage is the msg of the Error 429 that refuses a frame.
func rateLimitedMessage(cfg config.Config) string {
	return "rate limited: over " + strconv.FormatFloat(cfg.RateLimit, 'g', -1, 64) +
		" messages per second (burst " + strconv.Itoa(cfg.RateBurst) + ")"
}

// bucket is one agent's token bucket, owned by its read loop. It is
// refilled lazily, from the time of the previous frame, when the next one
// comes: an idle agent costs no timer and no work, and a frame costs a few
// arithmetic operations and no allocation.
type bucket struct {
	// tokens is how many frames the agent may send at last.
	tokens float64
	// last is when the previous frame came (or the bucket was filled), on
	// the monotonic clock the caller reads.
	last time.Duration
	// refused counts frames refused since the bucket was last full.
	refused int
}

// fill returns a full bucket at now.
func (l rateLimit) fill(now time.Duration) bucket {
	return bucket{tokens: float64(l.burst), last: now}
}

// take spends a token of b for a frame received at now and reports
// whether the frame may be handled; kick is true for the refused frame
// that makes burst+1 since the bucket was last full, once.
func (l rateLimit) take(b *bucket, now time.Duration) (ok, kick bool) {
	if now > b.last {
		b.tokens += float64(now-b.last) * l.perNs
		b.last = now
	}
	if b.tokens >= float64(l.burst) {
		b.tokens = float64(l.burst)
		b.refused = 0
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, false
	}
	b.refused++
	return false, b.refused == l.burst+1
}

// withinRateLimit applies the rate limit to a frame received at now. A
// frame over it is answered with Error 429 and must not be handled; the
// agent is closed when it keeps on. Called by the read loop only.
func (a *agent) withinRateLimit(now time.Time) bool {
	l := a.srv.rateLimit
	if !l.on() {
		return true
	}
	at := now.Sub(a.srv.epoch)
	ok, kick := l.take(&a.bucket, at)
	if ok {
		return true
	}
	if a.bucket.refused == 1 {
		// Kept now, not only when the agent leaves: a session of the same
		// id that replaces this one before it has left starts with it.
		a.srv.spent.keep(a.id, a.bucket, at)
	}
	a.stats.framesRateLimited.Inc()
	a.send(a.fixed.rateLimited)
	if kick {
		a.srv.log.Info("closing agent: rate limited", "agent", a.id, "refused", l.burst+1)
		a.close(ReasonRateLimited)
	}
	return false
}

// spentBuckets keeps, by agent id, the buckets of agents that left, or
// ran out, before theirs was full again, until it would be: an agent that
// reconnects gets its bucket back, so a flooder cannot refill it by
// reconnecting, nor by replacing itself. Its methods are safe for concurrent use.
type spentBuckets struct {
	limit rateLimit

	mu sync.Mutex // guards the fields below
	// byID holds each kept bucket with when it is full again.
	byID map[string]spentBucket
	// order holds the ids in the order they were kept, to forget them
	// once full; an id kept again is in it twice, and byID tells.
	order []spentID
}

// spentBucket is a kept bucket and when it is full again.
type spentBucket struct {
	b    bucket
	full time.Duration
}

// spentID is an id in the order it was kept.
type spentID struct {
	id   string
	full time.Duration
}

func newSpentBuckets(l rateLimit) *spentBuckets {
	return &spentBuckets{limit: l, byID: make(map[string]spentBucket)}
}

// keep keeps b, the bucket of the agent id that leaves at now, if it is
// not full by then.
func (s *spentBuckets) keep(id string, b bucket, now time.Duration) {
	if !s.limit.on() {
		return
	}
	tokens := b.tokens + float64(now-b.last)*s.limit.perNs
	if tokens >= float64(s.limit.burst) {
		return
	}
	full := now + time.Duration((float64(s.limit.burst)-tokens)/s.limit.perNs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetFullLocked(now)
	s.byID[id] = spentBucket{b: b, full: full}
	s.order = append(s.order, spentID{id, full})
}

// take returns the kept bucket of id, if any is still short of full at
// now, and forgets it. Its refused frames start again from zero.
func (s *spentBuckets) take(id string, now time.Duration) (bucket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetFullLocked(now)
	kept, ok := s.byID[id]
	if !ok {
		return bucket{}, false
	}
	delete(s.byID, id)
	kept.b.refused = 0
	return kept.b, true
}

// forgetFullLocked forgets the buckets full again by now, oldest first.
// Buckets refill at one rate, so they are full in about the order they
// were kept.
func (s *spentBuckets) forgetFullLocked(now time.Duration) {
	n := 0
	for ; n < len(s.order) && s.order[n].full <= now; n++ {
		if kept, ok := s.byID[s.order[n].id]; ok && kept.full <= now {
			delete(s.byID, s.order[n].id)
		}
	}
	if n > 0 {
		s.order = append(s.order[:0], s.order[n:]...)
	}
}
