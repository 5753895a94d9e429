package pubsub

import (
	"context"
	"sync"
	"time"
)

// Bounds of one PUBLISH that carries several bus messages.
const (
	maxBatchMessages = 256
	maxBatchBytes    = 256 << 10
)

// senderIdle is how long a channel's sender waits for another message
// before it ends.
const senderIdle = 10 * time.Second

// outbox holds the bus messages for one channel: those that come while a
// PUBLISH to it is on the wire leave together in the next one, which
// Redis and every subscriber then handle once. Under a steady trickle a
// message leaves alone, as soon as it comes. A sender goroutine of its
// own publishes, while there is something to send.
type outbox struct {
	r       *Redis
	channel string
	// wake tells a waiting sender that messages came; buffered, one.
	wake chan struct{}

	mu sync.Mutex // guards the fields below
	// queue are the messages the next PUBLISH takes, in order.
	queue []*outgoing
	// sending is true while the sender goroutine runs.
	sending bool
}

// outgoing is one bus message and what became of its PUBLISH.
type outgoing struct {
	msg []byte
	// received is how many subscribers got it; err is why it did not go.
	// Both are set before done closes.
	received int64
	err      error
	done     chan struct{}
}

// send publishes msg to channel, with whatever else waits for it, and
// returns how many subscribers got it. It fails with ErrClosed once the
// broker has stopped sending.
func (r *Redis) send(ctx context.Context, channel string, msg []byte) (int64, error) {
	m := &outgoing{msg: msg, done: make(chan struct{})}
	r.outMu.RLock()
	if r.sendingStopped {
		r.outMu.RUnlock()
		return 0, ErrClosed
	}
	o := r.outboxes[channel]
	if o == nil {
		r.outMu.RUnlock()
		r.outMu.Lock()
		if o = r.outboxes[channel]; o == nil {
			o = &outbox{r: r, channel: channel, wake: make(chan struct{}, 1)}
			r.outboxes[channel] = o
		}
		r.outMu.Unlock()
		r.outMu.RLock()
		if r.sendingStopped {
			r.outMu.RUnlock()
			return 0, ErrClosed
		}
	}
	o.mu.Lock()
	o.queue = append(o.queue, m)
	start := !o.sending
	o.sending = true
	o.mu.Unlock()
	if start {
		r.senders.Go(o.run) // before Close's Wait: it takes outMu first
	} else {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	r.outMu.RUnlock()
	select {
	case <-m.done:
		return m.received, m.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run is the sender: it publishes what is queued, in batches, until the
// queue has been empty for senderIdle or the broker stops sending.
func (o *outbox) run() {
	idle := time.NewTimer(senderIdle)
	defer idle.Stop()
	for {
		if batch := o.take(); len(batch) > 0 {
			o.publish(batch)
			continue
		}
		idle.Reset(senderIdle)
		select {
		case <-o.wake:
		case <-idle.C:
			if o.stopIfIdle() {
				return
			}
		case <-o.r.stopSending:
			for _, m := range o.takeAll() {
				m.err = ErrClosed
				close(m.done)
			}
			return
		}
	}
}

// take removes and returns the messages of the next PUBLISH.
func (o *outbox) take() []*outgoing {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, size := 0, 0
	for n < len(o.queue) && n < maxBatchMessages && (n == 0 || size+len(o.queue[n].msg) <= maxBatchBytes) {
		size += len(o.queue[n].msg)
		n++
	}
	batch := o.queue[:n:n]
	o.queue = o.queue[n:]
	if len(o.queue) == 0 {
		o.queue = nil
	}
	return batch
}

// stopIfIdle ends the sender's turn unless messages came meanwhile, and
// forgets the outbox: the node it sends to may be gone for good.
func (o *outbox) stopIfIdle() bool {
	o.r.outMu.Lock() // before o.mu, as in send
	defer o.r.outMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) > 0 {
		return false
	}
	o.sending = false
	delete(o.r.outboxes, o.channel)
	return true
}

// publish sends batch in one PUBLISH: a lone message as it is, several in
// a batch envelope.
func (o *outbox) publish(batch []*outgoing) {
	payload := batch[0].msg
	if len(batch) > 1 {
		msgs := make([][]byte, len(batch))
		for i, m := range batch {
			msgs[i] = m.msg
		}
		payload = appendBatch(nil, msgs)
	}
	n, err := o.r.client.Publish(context.Background(), o.channel, payload).Result()
	if err != nil {
		// What waits behind would wait for the same failure, one PUBLISH
		// timeout after another: it fails now.
		batch = append(batch, o.takeAll()...)
	}
	for _, m := range batch {
		m.received, m.err = n, err
		close(m.done)
	}
}

// takeAll removes and returns every queued message.
func (o *outbox) takeAll() []*outgoing {
	o.mu.Lock()
	defer o.mu.Unlock()
	all := o.queue
	o.queue = nil
	return all
}
