package main

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// tally keeps what became of a broadcast run's broadcasts, numbered from 0
// in the order they are sent: how each POST was answered, and how many
// agents each one reached. Counting arrivals by broadcast keeps apart the
// deliveries of a broadcast the node answered 200 for, which every agent
// should get, from those of one whose POST failed or timed out, which the
// node may deliver all the same. All its methods are safe for concurrent
// use.
type tally struct {
	// arrivals counts each broadcast's deliveries, by number; the agents'
	// read loops add to it.
	arrivals []atomic.Int64

	// timedOut and failed count POSTs that got no answer in time, or an
	// answer other than 200.
	timedOut, failed failures
	// notSent counts broadcasts due while the most allowed were in flight.
	notSent atomic.Int64

	mu sync.Mutex
	// ok marks, by number, the broadcasts answered 200; guarded by mu.
	ok []bool
	// sent, answered, promised, nodesMin, nodesMax and partial are
	// guarded by mu: broadcasts sent and answered 200, the sum of their
	// answers' delivered, the fewest and most nodes an answer counted,
	// and the answers that said partial.
	sent, answered     int
	promised           int64
	nodesMin, nodesMax int
	partial            int
}

// newTally returns a tally for at most capacity broadcasts.
func newTally(capacity int) *tally {
	return &tally{arrivals: make([]atomic.Int64, capacity), ok: make([]bool, capacity)}
}

// capacity returns how many broadcasts the tally has room for.
func (t *tally) capacity() int { return len(t.ok) }

// next numbers a broadcast about to be sent; at most capacity may be.
func (t *tally) next() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent++
	return t.sent - 1
}

// sentCount returns how many broadcasts have been numbered.
func (t *tally) sentCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sent
}

// broadcastResult is the answer of POST /broadcast.
type broadcastResult struct {
	Delivered int  `json:"delivered"`
	Nodes     int  `json:"nodes"`
	Partial   bool `json:"partial"`
}

// answer records how broadcast seq was answered: res when err is nil.
func (t *tally) answer(seq int, res broadcastResult, err error) {
	if err != nil {
		if isTimeout(err) {
			t.timedOut.add(err)
		} else {
			t.failed.add(err)
		}
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ok[seq] = true
	if t.answered == 0 || res.Nodes < t.nodesMin {
		t.nodesMin = res.Nodes
	}
	t.nodesMax = max(t.nodesMax, res.Nodes)
	t.answered++
	t.promised += int64(res.Delivered)
	if res.Partial {
		t.partial++
	}
}

// isTimeout reports whether a request failed for lack of time.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// arrived counts one delivery of broadcast seq. A number the run never
// gave out (not from this run) is ignored.
func (t *tally) arrived(seq int64) {
	if seq >= 0 && seq < int64(len(t.arrivals)) {
		t.arrivals[seq].Add(1)
	}
}

// received returns the deliveries counted so far.
func (t *tally) received() int64 {
	var n int64
	for i := range t.arrivals {
		n += t.arrivals[i].Load()
	}
	return n
}

// outcome is what a tally adds up to for a number of agents.
type outcome struct {
	// sent and answered count broadcasts: sent, and answered 200.
	sent, answered int
	// expected is agents × answered; received counts their deliveries,
	// lost those that never came (of each broadcast answered 200, the
	// agents it did not reach).
	expected, received, lost int64
	// promised is what the node's answers said they delivered.
	promised int64
	// late counts deliveries of broadcasts whose POST failed.
	late int64
	// nodesMin and nodesMax bound the nodes the answers counted; partial
	// counts the answers that said some node did not answer.
	nodesMin, nodesMax, partial int
}

// outcome adds up the tally for the agents that were listening.
func (t *tally) outcome(agents int64) outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := outcome{
		sent: t.sent, answered: t.answered, promised: t.promised,
		expected: agents * int64(t.answered),
		nodesMin: t.nodesMin, nodesMax: t.nodesMax, partial: t.partial,
	}
	for seq := range t.sent {
		got := t.arrivals[seq].Load()
		if !t.ok[seq] {
			o.late += got
			continue
		}
		o.received += got
		o.lost += max(agents-got, 0)
	}
	return o
}
