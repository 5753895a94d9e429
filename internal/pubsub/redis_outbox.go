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
	// queue are the PUBLISHes to make, in order; a message joins the
	// last while it has room. Guarded by r.outMu.
	queue []*batch
}

// batch is the bus messages of one PUBLISH, and what became of it.
type batch struct {
	// msgs are the messages, in order, unencoded: publish encodes them
	// into the PUBLISH's payload, the one copy of their bodies.
	msgs []envelope
	// bytes is the sum of their encodings' lengths.
	bytes int
	// received is how many subscribers got the PUBLISH; err is why it
	// did not go. Both are set before done closes.
	received int64
	err      error
	done     chan struct{}
}

// send publishes e to channel, with whatever else waits for it, and
// returns how many subscribers got it. It fails with ErrClosed once the
// broker has stopped sending.
//
// e.body is read when it is published, which may be after send returned
// if ctx ended first: the caller must not modify it.
func (r *Redis) send(ctx context.Context, channel string, e envelope) (int64, error) {
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
	b := o.add(e)
	r.outMu.Unlock()
	select {
	case <-b.done:
		return b.received, b.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// add queues e in the last batch, or a new one when that one is full,
// and returns the batch. r.outMu must be held.
func (o *outbox) add(e envelope) *batch {
	size := e.size()
	if n := len(o.queue); n > 0 {
		b := o.queue[n-1]
		if len(b.msgs) < maxBatchMessages && b.bytes+size <= maxBatchBytes {
			b.msgs = append(b.msgs, e)
			b.bytes += size
			return b
		}
	}
	b := &batch{msgs: []envelope{e}, bytes: size, done: make(chan struct{})}
	o.queue = append(o.queue, b)
	return b
}

// drain publishes the queued batches until there are none.
func (o *outbox) drain() {
	for b := o.take(); b != nil; b = o.take() {
		o.publish(b)
	}
}

// take removes and returns the next batch. When there is none it
// removes the outbox from the broker and returns nil: the next message
// for the channel makes a new one.
func (o *outbox) take() *batch {
	o.r.outMu.Lock()
	defer o.r.outMu.Unlock()
	if len(o.queue) == 0 {
		delete(o.r.outboxes, o.channel)
		return nil
	}
	b := o.queue[0]
	o.queue[0] = nil
	o.queue = o.queue[1:]
	return b
}

// publish sends b in one PUBLISH: a lone message as it is, several in a
// batch envelope.
func (o *outbox) publish(b *batch) {
	var payload []byte
	if len(b.msgs) == 1 {
		payload = b.msgs[0].append(make([]byte, 0, b.bytes))
	} else {
		payload = appendBatch(make([]byte, 0, batchSize(b.msgs)), b.msgs)
	}
	n, err := o.r.publishPayload(o.channel, payload)
	b.finish(n, err)
	if err != nil {
		// What waits behind would wait for the same failure, one PUBLISH
		// timeout after another: it fails now.
		for _, q := range o.takeAll() {
			q.finish(0, err)
		}
	}
}

// publishPayload makes one PUBLISH, or SPUBLISH on a Redis Cluster, and
// returns how many subscribers got it.
func (r *Redis) publishPayload(channel string, payload []byte) (int64, error) {
	if r.cluster != nil {
		return r.client.SPublish(context.Background(), channel, payload).Result()
	}
	return r.client.Publish(context.Background(), channel, payload).Result()
}

// finish records what became of b's PUBLISH and wakes its senders.
func (b *batch) finish(received int64, err error) {
	b.received, b.err = received, err
	close(b.done)
}

// takeAll removes and returns every queued batch.
func (o *outbox) takeAll() []*batch {
	o.r.outMu.Lock()
	defer o.r.outMu.Unlock()
	all := o.queue
	o.queue = nil
	return all
}
