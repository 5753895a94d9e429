// Package keepalive owns the seed's application-level keepalive: it
// watches every connected agent's last received frame and, every
// interval, asks idle agents for a Ping and expires agents idle past the
// limit.
//
// The rules: any received frame counts as activity, and idle time counts
// from the agent's Welcome until its first frame. A sweep runs every
// interval; a target idle longer than the interval is asked to Ping, and
// one idle longer than the limit is forgotten and told to Expire (the
// caller sends Kicked "keepalive timeout", closes and logs). Because
// sweeps run once per interval, an idle agent is pinged within
// (interval, 2×interval] of its last frame and expired within
// (limit, limit+interval].
//
// The package knows nothing of sockets: a connection registers itself as
// a Target and the Monitor calls back into it. It stays cheap at 100,000
// agents: there is no goroutine or timer per target, only one ticker for
// the whole Monitor, and targets live in a fixed set of shards, each a map
// under its own mutex, so connection goroutines registering and leaving
// rarely contend and a sweep holds each shard lock only while it scans
// that shard's few thousand entries.
package keepalive

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Target is one watched agent, usually a pointer to the connection.
type Target interface {
	// LastReceive returns the time of the target's last received frame
	// (or of its Welcome) as Unix nanoseconds. It is read concurrently
	// with the target's own updates, so the target must store it
	// atomically. It is called with a shard lock held: it must be cheap
	// and must not call back into the Monitor.
	LastReceive() int64
	// Ping asks the target to send a Ping; it must not block. It may call
	// Remove. A Ping may arrive just after the target's Remove returned,
	// when the two race with a sweep, so a closing target must ignore it.
	Ping()
	// Expire tells the target it has been idle longer than the limit,
	// counting from lastReceive; it must not block. The monitor forgets
	// the target before calling Expire, so Expire is called at most once
	// per Add. Like Ping, it may arrive just after a racing Remove
	// returned, and it may call Remove (which then does nothing).
	Expire(lastReceive time.Time)
}

// shardCount is the number of shards; a power of two so that a hash picks
// one with a mask. 64 keeps a shard near 1,600 targets at 100,000 agents.
const shardCount = 64

// shard is one bucket of targets. It is padded to a 64-byte cache line
// (mutex 8 bytes, map header pointer 8 bytes) so that goroutines adding to
// neighbouring shards do not contend through false sharing.
type shard struct {
	// mu guards targets.
	mu sync.Mutex
	// targets is the set of watched targets hashed to this shard; guarded
	// by mu.
	targets map[Target]struct{}
	_       [48]byte
}

// Monitor watches targets and sweeps them for idleness. Its methods are
// safe for concurrent use.
//
// A target's shard is picked by hashing the target itself (its pointer
// identity, via maphash.Comparable with a per-Monitor seed), so Remove
// finds it again without any index shared between shards.
type Monitor struct {
	// interval and limit are set by New and read-only afterwards.
	interval time.Duration
	limit    time.Duration
	// seed is set by New and read-only afterwards; it picks a target's
	// shard.
	seed maphash.Seed
	// shards each guard their own targets with their own mutex.
	shards [shardCount]shard
}

// New returns a Monitor that pings targets idle longer than interval and
// expires targets idle longer than limit. The caller must check that
// interval > 0 and limit > interval (configuration validation owns that);
// Run panics on a non-positive interval.
func New(interval, limit time.Duration) *Monitor {
	m := &Monitor{interval: interval, limit: limit, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].targets = make(map[Target]struct{})
	}
	return m
}

// shardOf returns the shard that holds t.
func (m *Monitor) shardOf(t Target) *shard {
	return &m.shards[maphash.Comparable(m.seed, t)&(shardCount-1)]
}

// Add starts watching t. t must be non-nil and comparable (a pointer);
// adding a target already watched does nothing. Add is safe for
// concurrent use.
func (m *Monitor) Add(t Target) {
	s := m.shardOf(t)
	s.mu.Lock()
	s.targets[t] = struct{}{}
	s.mu.Unlock()
}

// Remove stops watching t. It is idempotent and safe for concurrent use,
// also from inside Ping and Expire. A callback already collected by a
// sweep in progress may still reach t after Remove returns.
func (m *Monitor) Remove(t Target) {
	s := m.shardOf(t)
	s.mu.Lock()
	delete(s.targets, t)
	s.mu.Unlock()
}

// Len returns the number of watched targets. It locks each shard in turn,
// so under concurrent Add and Remove it is a close estimate, not a
// snapshot. It is safe for concurrent use.
func (m *Monitor) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.targets)
		s.mu.Unlock()
	}
	return n
}

// Run sweeps every interval, using one time.Ticker, until ctx is done,
// then returns. The first sweep is one interval after Run starts. The
// caller owns the goroutine that runs it and waits for it to return; run
// it at most once per Monitor.
func (m *Monitor) Run(ctx context.Context) {
	ticker := time.NewTicker(m.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			// time.Now, not the tick's time: a tick that waited in the
			// channel behind a slow sweep would be stale.
			m.Sweep(time.Now())
		}
	}
}

// expired is a target forgotten by a sweep, waiting for its Expire call.
type expired struct {
	t    Target
	last int64
}

// Sweep makes one pass at time now: it pings every target idle longer
// than the interval (and no longer than the limit), and forgets and
// expires every target idle longer than the limit. It never calls Ping or
// Expire with a lock held: it scans one shard under its lock, unlocks,
// then makes that shard's calls. A sweep over fresh targets does not
// allocate. Run calls it on each tick; tests call it with a chosen now.
// It is safe for concurrent use, though concurrent sweeps may ping a
// target twice.
func (m *Monitor) Sweep(now time.Time) {
	nowNs := now.UnixNano()
	pingBefore := nowNs - int64(m.interval) // idle > interval: last < pingBefore
	expireBefore := nowNs - int64(m.limit)  // idle > limit: last < expireBefore
	var pings []Target
	var expires []expired
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for t := range s.targets {
			last := t.LastReceive()
			switch {
			case last < expireBefore:
				delete(s.targets, t)
				expires = append(expires, expired{t: t, last: last})
			case last < pingBefore:
				pings = append(pings, t)
			}
		}
		s.mu.Unlock()
		for _, t := range pings {
			t.Ping()
		}
		for _, e := range expires {
			e.t.Expire(time.Unix(0, e.last))
		}
		// Reuse the buffers for the next shard without keeping targets
		// reachable from them.
		clear(pings)
		clear(expires)
		pings, expires = pings[:0], expires[:0]
	}
}
