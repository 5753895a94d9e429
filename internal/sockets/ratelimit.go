package sockets

import (
	"strconv"
	"time"

	"github.com/hotpot-rt/hotpot/internal/config"
)

// rateLimit is the node's limit on the frames each agent sends
// (--rate-limit, --rate-burst): every agent has a token bucket that holds
// up to burst frames and refills at the limit's rate, and every frame it
// sends — Ping, Pong and Reply included — takes one. A frame that finds
// the bucket empty is refused: answered with Error 429 and not handled.
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
	ok, kick := l.take(&a.bucket, now.Sub(a.srv.epoch))
	if ok {
		return true
	}
	a.stats.framesRateLimited.Inc()
	a.send(a.fixed.rateLimited)
	if kick {
		a.srv.log.Info("closing agent: rate limited", "agent", a.id, "refused", l.burst+1)
		a.close(ReasonRateLimited)
	}
	return false
}
