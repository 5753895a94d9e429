package pubsub

import "context"

// Bounds of one PUBLISH that carries several bus messages.
const (
	maxBatchMessages = 256
	maxBatchBytes    = 256 << 10
)

// outbox holds the bus messages for one channel: those that come while a
// PUBLISH to it is on the wire leave together in the next one, which
// Redis and every subscriber then handle once. Under a steady trickle a
// message leaves alone, as soon as it comes.
//
// An outbox exists while it has something to send: the message that
// finds none makes one and hands its drain to a sender; the drain
// removes it from the broker once it finds its queue empty, so a channel
// no one sends to any more (a node gone for good) keeps nothing.
type outbox struct {
	r       *Redis
	channel string
	// queue are the messages the next PUBLISH takes, in order; guarded
	// by r.outMu.
	queue []*outgoing
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
	r.outMu.Lock()
	if r.sendingStopped {
		r.outMu.Unlock()
		return 0, ErrClosed
	}
	o := r.outboxes[channel]
	if o == nil {
		o = &outbox{r: r, channel: channel}
		r.outboxes[channel] = o
		r.senders.run(o.drain) // under outMu, so before Close waits for the senders
	}
	o.queue = append(o.queue, m)
	r.outMu.Unlock()
	select {
	case <-m.done:
		return m.received, m.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// drain publishes what is queued, in batches, until the queue is empty.
func (o *outbox) drain() {
	for batch := o.take(); batch != nil; batch = o.take() {
		o.publish(batch)
	}
}

// take removes and returns the messages of the next PUBLISH. When there
// are none it removes the outbox from the broker and returns nil: the
// next message for the channel makes a new one.
func (o *outbox) take() []*outgoing {
	o.r.outMu.Lock()
	defer o.r.outMu.Unlock()
	if len(o.queue) == 0 {
		delete(o.r.outboxes, o.channel)
		return nil
	}
	n, size := 0, 0
	for n < len(o.queue) && n < maxBatchMessages && (n == 0 || size+len(o.queue[n].msg) <= maxBatchBytes) {
		size += len(o.queue[n].msg)
		n++
	}
	batch := o.queue[:n:n]
	o.queue = o.queue[n:]
	if len(o.queue) == 0 {
		o.queue = nil // what comes next must not keep batch's array
	}
	return batch
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
	o.r.outMu.Lock()
	defer o.r.outMu.Unlock()
	all := o.queue
	o.queue = nil
	return all
}
