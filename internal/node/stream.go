package node

import (
	"context"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/metrics"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

// Event publishing: local agents' events go to the node's outbox, which
// publishLoop empties into the cluster's stream in order; tailLoop reads
// the stream — every node's events, with their cluster-wide ids — into
// the node's log, which SSE streams serve.
const (
	// publishBatch bounds the events of one append to the stream.
	publishBatch = 512
	// tailBatch bounds the entries of one read of the stream.
	tailBatch = 1024
	// retryBackoff is the wait before trying the stream again after a failure.
	retryBackoff = 250 * time.Millisecond
)

// outbox holds local agents' events until they are in the cluster's
// stream. It is bounded in count and bytes, as the log is: when full
// (Redis down for long) it drops the oldest. Its methods are safe for
// concurrent use and add never blocks.
type outbox struct {
	limit, maxBytes int
	metrics         *metrics.Metrics

	mu sync.Mutex // guards the fields below
	// queue holds the events, oldest first.
	queue []events.Event
	// bytes is about the memory the queued events hold (events.SizeOf).
	bytes int
	// first is the number of events ever removed from the queue's front.
	first uint64
	// dropped counts events dropped since publishLoop last looked.
	dropped int
	// sendingEnd is the position after the batch peek handed out, until
	// remove or unsent says how its append went; 0 when none is out.
	// Events of that batch dropped meanwhile are counted in
	// droppedSending, and count as dropped only if the append failed:
	// one that succeeds published them.
	sendingEnd     uint64
	droppedSending int
	// wake has a token when events wait.
	wake chan struct{}
}

func newOutbox(limit, maxBytes int, m *metrics.Metrics) *outbox {
	return &outbox{limit: max(limit, 1), maxBytes: maxBytes, metrics: m, wake: make(chan struct{}, 1)}
}

// add queues e. It is the sockets.EventSink of the node's agents.
func (o *outbox) add(e events.Event) {
	size := events.SizeOf(e)
	o.mu.Lock()
	for len(o.queue) >= o.limit || len(o.queue) > 0 && o.bytes+size > o.maxBytes {
		// The dropped event is not cleared: a batch that peek handed out
		// may still hold it.
		o.bytes -= events.SizeOf(o.queue[0])
		o.queue = o.queue[1:]
		if o.first < o.sendingEnd {
			o.droppedSending++
		} else {
			o.countDropped(1)
		}
		o.first++
	}
	o.queue = append(o.queue, e)
	o.bytes += size
	o.metrics.OutboxEvents.Set(float64(len(o.queue)))
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// peek returns up to n of the oldest events, the position of the first,
// and how many were dropped since the last peek. The batch shares the
// queue's storage, whose events are never changed once added; it is valid
// until remove is called for it.
func (o *outbox) peek(n int) (batch []events.Event, from uint64, dropped int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := min(n, len(o.queue))
	batch = o.queue[:k:k]
	o.sendingEnd = o.first + uint64(k)
	dropped, o.dropped = o.dropped, 0
	return batch, o.first, dropped
}

// unsent says the batch peek handed out was not appended: its events
// dropped meanwhile are dropped for good.
func (o *outbox) unsent() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.countDropped(o.droppedSending)
	o.sendingEnd, o.droppedSending = 0, 0
}

// countDropped counts n events dropped; o.mu must be held.
func (o *outbox) countDropped(n int) {
	o.dropped += n
	o.metrics.EventsDropped.Add(float64(n))
}

// remove takes out the n events from position from, the batch peek
// handed out, which is now in the stream: those of them still queued,
// and none of them counts as dropped.
func (o *outbox) remove(from uint64, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sendingEnd, o.droppedSending = 0, 0
	end := from + uint64(n)
	if end <= o.first {
		return // dropped meanwhile
	}
	k := int(min(end-o.first, uint64(len(o.queue))))
	for _, e := range o.queue[:k] {
		o.bytes -= events.SizeOf(e)
	}
	clear(o.queue[:k])
	o.queue = o.queue[k:]
	o.first += uint64(k)
	o.metrics.OutboxEvents.Set(float64(len(o.queue)))
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue)
}

// publishLoop appends the outbox's events to the stream, in order, until
// the node stops; while the stream cannot be reached it keeps them and
// tries again.
func (n *Node) publishLoop() {
	for {
		select {
		case <-n.outbox.wake:
		case <-n.ctx.Done():
			return
		}
		for {
			batch, from, dropped := n.outbox.peek(publishBatch)
			if dropped > 0 {
				n.log.Warn("dropped agent events: the cluster was unreachable and the outbox full", "dropped", dropped)
			}
			if len(batch) == 0 {
				break
			}
			ctx, cancel := context.WithTimeout(n.ctx, directoryTimeout)
			err := n.broker.Append(ctx, batch)
			cancel()
			if err != nil {
				n.outbox.unsent()
				n.clusterError("publish events", err)
				if !sleep(n.ctx, retryBackoff) {
					return
				}
				continue
			}
			n.outbox.remove(from, len(batch))
		}
	}
}

// tailLoop reads the cluster's stream into the node's log until the node
// stops: first the newest entries it keeps, for Last-Event-ID resumes of
// streams begun on other nodes, then every entry as it comes.
func (n *Node) tailLoop() {
	var after events.ID
	for {
		ctx, cancel := context.WithTimeout(n.ctx, directoryTimeout)
		entries, err := n.broker.Newest(ctx, n.cfg.EventRetention)
		cancel()
		if err == nil {
			after = n.addEntries(entries, after)
			break
		}
		n.clusterError("read events", err)
		if !sleep(n.ctx, retryBackoff) {
			return
		}
	}
	for {
		entries, err := n.broker.Read(n.ctx, after, tailBatch)
		if n.ctx.Err() != nil {
			return
		}
		if err != nil {
			n.clusterError("read events", err)
			if !sleep(n.ctx, retryBackoff) {
				return
			}
			continue
		}
		after = n.addEntries(entries, after)
	}
}

// addEntries adds entries to the log and returns the id of the last one,
// or after when there are none.
func (n *Node) addEntries(entries []pubsub.Entry, after events.ID) events.ID {
	for _, e := range entries {
		n.events.Add(e.ID, e.Event)
		after = e.ID
	}
	last := after
	n.tailed.Store(&last)
	return after
}

// flushEvents waits, for up to flushTimeout, until the outbox is empty
// and the log holds the stream's newest entry: the last events of the
// node's agents are then visible to every SSE stream.
func (n *Node) flushEvents(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	for n.outbox.len() > 0 {
		if !sleep(ctx, 5*time.Millisecond) {
			return
		}
	}
	newest, err := n.broker.Newest(ctx, 1)
	if err != nil || len(newest) == 0 {
		return
	}
	for {
		if tailed := n.tailed.Load(); tailed != nil && !tailed.Less(newest[0].ID) {
			return
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return
		}
	}
}

// sleep waits d and reports true, or reports false as soon as ctx ends.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
