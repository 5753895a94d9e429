package pubsub

// What a node hears: its subscriptions to its channels, each read by a
// loop of its own that subscribes again when it breaks, and the dispatch
// of what arrives on them.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Serve subscribes to the node's channels and starts handing messages to
// h, on a goroutine per subscription that subscribes again whenever it
// breaks.
func (r *Redis) Serve(h Handler) {
	r.mu.Lock()
	r.handler = h
	for _, s := range r.subs {
		s.sub = r.newPubSub() // subscribes on first receive
	}
	r.mu.Unlock()
	for _, s := range r.subs {
		r.loops.Go(s.receive)
	}
}

// newPubSub returns a subscription with no channels yet: subscribe
// gives them, as shard channels on a Redis Cluster.
func (r *Redis) newPubSub() *redis.PubSub { return r.client.Subscribe(r.ctx) }

// subscription is one connection subscribed to some of the node's
// channels, and the loop that reads it.
type subscription struct {
	r        *Redis
	channels []string
	// answers is set on the subscription of the node's own channel, which
	// carries the answers the node waits for.
	answers bool
	// subscribed is set while its channels are subscribed; only receive
	// touches it.
	subscribed bool
	// sub is replaced only by receive, which may read it without r.mu.
	sub *redis.PubSub
}

// receive is the subscriber loop: it reads s's channels until the broker
// closes, dispatching each message.
func (s *subscription) receive() {
	r := s.r
	subscribe := true
	pinged := false
	for r.ctx.Err() == nil {
		if subscribe {
			if err := s.subscribe(); err != nil {
				s.lost(err)
				r.sleep(resubscribeBackoff)
				continue
			}
			subscribe = false
		}
		msg, err := s.sub.ReceiveTimeout(r.ctx, receiveTimeout)
		if r.ctx.Err() != nil {
			return
		}
		var netErr net.Error
		var redisErr redis.Error
		switch {
		case errors.As(err, &netErr) && netErr.Timeout():
			if pinged { // no Pong in time: Redis does not answer
				s.lost(err)
				// go-redis keeps a connection that timed out; only a
				// new one says, with its subscribe replies, when the
				// subscription works again.
				s.renew()
				subscribe, pinged = true, false
				continue
			}
			pinged = s.sub.Ping(r.ctx) == nil
			continue
		case errors.As(err, &redisErr):
			// Redis refused the subscription: a Redis Cluster node
			// answers MOVED for a slot it no longer serves, until the
			// client learns the slots again.
			s.lost(err)
			r.sleep(resubscribeBackoff / 10)
			s.renew()
			subscribe, pinged = true, false
			continue
		case err != nil:
			// go-redis dials again, and subscribes again, on the next receive.
			s.lost(err)
			r.sleep(resubscribeBackoff / 10)
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			switch {
			case m.Kind == "sunsubscribe":
				// Redis Cluster moved the channel's hash slot to
				// another node: subscribe there.
				s.lost(fmt.Errorf("%s moved to another Redis node", m.Channel))
				s.renew()
				subscribe = true
			case (m.Kind == "subscribe" || m.Kind == "ssubscribe") && m.Count == len(s.channels) && !s.subscribed:
				s.subscribed = true
				r.subscribed.Add(1)
				r.log.Info("subscribed to Redis", "channels", s.channels)
			}
		case *redis.Message:
			b := []byte(m.Payload)
			if len(b) > 0 && b[0] == kindBatch {
				if err := splitBatch(b, r.dispatch); err != nil {
					r.log.Warn("dropping the rest of a bus batch", "err", err)
				}
				continue
			}
			r.dispatch(b)
		}
	}
}

// subscribe asks Redis for s's channels.
func (s *subscription) subscribe() error {
	if s.r.cluster != nil {
		return s.sub.SSubscribe(s.r.ctx, s.channels...)
	}
	return s.sub.Subscribe(s.r.ctx, s.channels...)
}

// renew replaces the subscription with a new one, on a connection of its
// own, which subscribes when the receive loop asks it to.
func (s *subscription) renew() {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	s.sub.Close()
	if r.ctx.Err() == nil { // else the broker is closing and the loop ends
		s.sub = r.newPubSub()
	}
}

// lost marks the subscription broken and, when it carries the node's
// answers, fails the requests waiting for answers that can no longer
// arrive.
func (s *subscription) lost(err error) {
	if s.subscribed {
		s.subscribed = false
		s.r.subscribed.Add(-1)
		s.r.log.Warn("lost the Redis subscription", "channels", s.channels, "err", err)
	}
	if s.answers {
		s.r.failWaiting(unavailable(err))
	}
}

// sleep waits d, or less if the broker closes.
func (r *Redis) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	}
}

// dispatch handles one message from the node's channels: an answer goes
// to whoever waits for it; a request or another node's survey is handed
// to the handler on a goroutine of its own, which publishes the answer.
func (r *Redis) dispatch(b []byte) {
	e, err := parseEnvelope(b)
	if err != nil {
		r.log.Warn("dropping bus message", "err", err)
		return
	}
	if e.kind == kindAnswer || e.kind == kindGone {
		r.mu.Lock()
		ch := r.waiting[e.seq]
		r.mu.Unlock()
		a := answer{node: e.from, reply: e.body}
		if e.kind == kindGone {
			a = answer{node: e.from, err: ErrNodeGone}
		}
		if ch != nil {
			select {
			case ch <- a:
			default: // a survey's answers beyond what it expects
			}
		}
		return
	}
	if e.kind == kindSurvey && e.from == r.node {
		return // this node's own survey
	}
	r.mu.Lock()
	h := r.handler
	r.mu.Unlock()
	r.handlers.run(func() {
		reply := h(r.ctx, e.from, e.body)
		ctx, out := r.ctx, envelope{kind: kindAnswer, seq: e.seq, from: r.node, body: reply}
		if r.ctx.Err() != nil {
			if e.kind != kindRequest {
				return // a survey does without this node's answer
			}
			// The broker closed before the handler answered: tell the
			// requester so, while Close waits to close the client.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.WithoutCancel(r.ctx), redisIOTimeout)
			defer cancel()
			out = envelope{kind: kindGone, seq: e.seq, from: r.node}
		}
		if _, err := r.send(ctx, r.keys.nodeChannel(e.from), out); err != nil {
			r.log.Warn("answer lost", "to", e.from, "err", err)
		}
	})
}
