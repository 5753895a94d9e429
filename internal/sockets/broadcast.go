package sockets

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// broadcaster delivers broadcasts, coalescing those that come while one is
// being delivered: the next round takes every broadcast that waits and
// hands each agent all of them at once, in order, so that they leave in
// one write. Under a steady rate a broadcast is delivered alone, as soon
// as it comes; when the node falls behind, each write carries several and
// the cost per delivery falls — a write to a socket costs about the same
// for one small frame as for a few.
//
// One caller at a time runs rounds; the others wait for their broadcast's
// round, and when a round ends with broadcasts waiting, one of their
// callers takes over. No goroutine of its own: nothing to stop.
type broadcaster struct {
	srv *Server

	mu sync.Mutex // guards the fields below
	// waiting are the broadcasts the next round takes, in arrival order.
	waiting []*broadcastJob
	// running is true while a caller runs a round.
	running bool
}

// broadcastJob is one broadcast and what became of it.
type broadcastJob struct {
	f FanOut
	// delivered is how many agents had it queued; set before done closes.
	delivered int
	// done is closed once its round is over.
	done chan struct{}
	// run is closed to hand the caller the next round.
	run chan struct{}
}

// deliver delivers f to every agent and returns how many had it queued.
func (b *broadcaster) deliver(f FanOut) int {
	job := &broadcastJob{f: f, done: make(chan struct{}), run: make(chan struct{})}
	b.mu.Lock()
	b.waiting = append(b.waiting, job)
	runNow := !b.running
	b.running = true
	b.mu.Unlock()
	if !runNow {
		select {
		case <-job.done:
			return job.delivered
		case <-job.run:
		}
	}
	b.runRound()
	<-job.done // in that round, or in one before it
	return job.delivered
}

// runRound delivers every waiting broadcast, then hands the next round to
// the caller of a broadcast that came meanwhile, or stops.
func (b *broadcaster) runRound() {
	b.mu.Lock()
	jobs := b.waiting
	b.waiting = nil
	b.mu.Unlock()

	fanOuts := make([]FanOut, len(jobs))
	for i, job := range jobs {
		fanOuts[i] = job.f
	}
	counts := b.srv.deliverAll(b.srv.snapshot(), fanOuts)
	for i, job := range jobs {
		job.delivered = counts[i]
		close(job.done)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiting) == 0 {
		b.running = false
		return
	}
	close(b.waiting[0].run)
}

// fanOutShard is the fewest agents a fan-out goroutine takes: below it,
// starting one costs more than the writes it would share.
const fanOutShard = 256

// fanOutChunk is how many agents a fan-out goroutine takes at a time:
// enough that taking them costs nothing beside their writes, few enough
// that the goroutines finish together when one of them gets less CPU.
const fanOutChunk = 64

// deliverAll queues to each agent the frames of fanOuts its codec can
// carry, together and in order, and returns how many agents had each
// fan-out's frame queued. The agents are shared out over up to GOMAXPROCS
// goroutines, a chunk at a time, which it waits for; a send never waits
// on an agent, so no agent holds up the others.
func (s *Server) deliverAll(agents []*agent, fanOuts []FanOut) []int {
	var taken atomic.Int64 // agents handed to a goroutine so far
	send := func() []int {
		counts := make([]int, len(fanOuts))
		frames := make([][]byte, 0, len(fanOuts))
		carried := make([]int, 0, len(fanOuts))
		for {
			end := int(taken.Add(fanOutChunk))
			if end-fanOutChunk >= len(agents) {
				return counts
			}
			for _, a := range agents[end-fanOutChunk : min(end, len(agents))] {
				frames, carried = frames[:0], carried[:0]
				for i, f := range fanOuts {
					if frame := f.frames[a.codec]; frame != nil {
						frames = append(frames, frame)
						carried = append(carried, i)
					}
				}
				if len(frames) > 0 && a.sendFrames(frames, false) == nil {
					for _, i := range carried {
						counts[i]++
					}
				}
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(agents)/fanOutShard)
	parts := make([][]int, max(workers, 1))
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { parts[w] = send() })
	}
	parts[0] = send()
	wg.Wait()
	counts := parts[0]
	for _, part := range parts[1:] {
		for i, n := range part {
			counts[i] += n
		}
	}
	return counts
}
