package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis timeouts: a cross-node operation fails within about 2 s when
// Redis does not answer.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = time.Second
	// receiveTimeout is how long the subscriber waits for a message
	// before it pings Redis to check the subscription is alive.
	receiveTimeout = 2 * time.Second
	// resubscribeBackoff bounds the wait between attempts to subscribe
	// again after the subscription broke.
	resubscribeBackoff = time.Second
)

// RedisOptions configure a Redis broker.
type RedisOptions struct {
	// URL is redis://… or rediss://…, with password, db and TLS as
	// go-redis's ParseURL reads them.
	URL string
	// Prefix starts every key and channel name.
	Prefix string
	// Node is the id of the node the broker serves.
	Node string
	// Retention is about how many events the stream keeps.
	Retention int
	// RetentionBytes is about how many bytes of events the stream keeps;
	// 0 means no bound but Retention.
	RetentionBytes int
	// Log receives the broker's logs; nil discards them.
	Log *slog.Logger
}

// Redis is a Broker that reaches the other nodes of a cluster through
// one Redis server.
type Redis struct {
	node      string
	keys      keys
	retention int64
	// window trims the stream to RetentionBytes, from the entries reads
	// hand out.
	window *streamWindow
	client *redis.Client
	// outMu guards outboxes, the queue of each outbox in it, and
	// sendingStopped.
	outMu sync.Mutex
	// outboxes coalesce the messages for each channel; see send.
	outboxes map[string]*outbox
	// sendingStopped is set, and stopSending closed, once Close has
	// waited for the handlers: nothing is sent after.
	sendingStopped bool
	stopSending    chan struct{}
	// senders drain the outboxes; sendLoops counts their goroutines.
	senders   *workers
	sendLoops sync.WaitGroup
	log       *slog.Logger

	// ctx ends when the broker closes; it is the handlers' context.
	ctx    context.Context
	cancel context.CancelFunc
	// loops counts the subscriber goroutine and the handler goroutines.
	loops sync.WaitGroup
	// handlers runs the handler of each request and survey, and
	// publishes its answer.
	handlers *workers
	// seq numbers the requests and surveys this node sends.
	seq atomic.Uint64
	// subscribed is true while the node's channels are subscribed.
	subscribed atomic.Bool

	mu sync.Mutex // guards the fields below
	// waiting are the requests and surveys waiting for answers, by seq.
	waiting map[uint64]chan answer
	handler Handler
	// sub is replaced only by the receive loop, which may read it
	// without mu.
	sub *redis.PubSub
}

var _ Broker = (*Redis)(nil)

// redisLogger passes go-redis's own log lines (dial retries and the like,
// which the broker reports itself) to slog at debug level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// setRedisLogger installs the first broker's logger as go-redis's, which
// is one per process.
var setRedisLogger sync.Once

// NewRedis returns a broker for opts. It does not wait for Redis to
// answer: a node starts, and keeps its local agents working, while Redis
// is down. The caller must Close it.
func NewRedis(opts RedisOptions) (*Redis, error) {
	ropts, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	ropts.DialTimeout = redisDialTimeout
	ropts.ReadTimeout = redisIOTimeout
	ropts.WriteTimeout = redisIOTimeout
	ropts.PoolTimeout = redisIOTimeout
	ropts.MaxRetries = 1
	ropts.DisableIdentity = true
	if ropts.Protocol == 0 {
		// RESP2 unless the URL asks for RESP3 (?protocol=3): nothing here
		// needs RESP3, and go-redis peeks for push notifications before
		// each RESP3 reply, at 5-8 % of a node's CPU on cross-node pushes.
		ropts.Protocol = 2
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	setRedisLogger.Do(func() { redis.SetLogger(redisLogger{opts.Log}) })
	client := redis.NewClient(ropts)
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{
		node:        opts.Node,
		keys:        newKeys(opts.Prefix, ropts.DB),
		retention:   int64(max(opts.Retention, 1)),
		window:      newStreamWindow(opts.RetentionBytes, max(opts.Retention, 1)),
		client:      client,
		log:         opts.Log,
		ctx:         ctx,
		cancel:      cancel,
		waiting:     make(map[uint64]chan answer),
		outboxes:    make(map[string]*outbox),
		stopSending: make(chan struct{}),
	}
	r.handlers = newWorkers(ctx.Done(), &r.loops)
	r.senders = newWorkers(r.stopSending, &r.sendLoops)
	return r, nil
}

// Node returns the id of the node r serves.
func (r *Redis) Node() string { return r.node }

// Ready reports whether the node's channels are subscribed and Redis
// answers a PING.
func (r *Redis) Ready(ctx context.Context) error {
	if !r.subscribed.Load() {
		return fmt.Errorf("%w: not subscribed to Redis", ErrUnavailable)
	}
	if err := r.client.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// unavailable wraps a Redis error in ErrUnavailable.
func unavailable(err error) error {
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Serve subscribes to the node's channels and starts handing messages to
// h, on a goroutine that resubscribes whenever the subscription breaks.
func (r *Redis) Serve(h Handler) {
	r.mu.Lock()
	r.handler = h
	r.sub = r.client.Subscribe(r.ctx) // subscribes on first receive
	r.mu.Unlock()
	r.loops.Go(r.receive)
}

// Close stops the subscriber, fails waiting requests with ErrClosed,
// waits for the handlers, then for the senders to publish what is
// queued, and closes the connections. It may be called again.
func (r *Redis) Close() error {
	r.cancel()
	r.mu.Lock()
	if r.sub != nil {
		r.sub.Close() // ends a receive in progress
	}
	r.mu.Unlock()
	r.loops.Wait()
	r.outMu.Lock()
	if !r.sendingStopped { // Close may be called again
		r.sendingStopped = true
		close(r.stopSending)
	}
	r.outMu.Unlock()
	r.sendLoops.Wait()
	r.failWaiting(ErrClosed)
	return r.client.Close()
}

// receive is the subscriber loop: it reads the node's channels until the
// broker closes, dispatching each message.
func (r *Redis) receive() {
	channels := []string{r.keys.nodeChannel(r.node), r.keys.allChannel()}
	subscribe := true
	pinged := false
	for r.ctx.Err() == nil {
		if subscribe {
			if err := r.sub.Subscribe(r.ctx, channels...); err != nil {
				r.lost(err)
				r.sleep(resubscribeBackoff)
				continue
			}
			subscribe = false
		}
		msg, err := r.sub.ReceiveTimeout(r.ctx, receiveTimeout)
		if r.ctx.Err() != nil {
			return
		}
		var netErr net.Error
		switch {
		case errors.As(err, &netErr) && netErr.Timeout():
			if pinged { // no Pong in time: Redis does not answer
				r.lost(err)
				// go-redis keeps a connection that timed out; only a
				// new one says, with its subscribe replies, when the
				// subscription works again.
				r.renew()
				subscribe, pinged = true, false
				continue
			}
			pinged = r.sub.Ping(r.ctx) == nil
			continue
		case err != nil:
			// go-redis dials again, and subscribes again, on the next receive.
			r.lost(err)
			r.sleep(resubscribeBackoff / 10)
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Count == len(channels) && !r.subscribed.Swap(true) {
				r.log.Info("subscribed to Redis", "channels", channels)
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

// renew replaces the subscription with a new one, on a connection of its
// own, which subscribes when the receive loop asks it to.
func (r *Redis) renew() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sub.Close()
	if r.ctx.Err() == nil { // else the broker is closing and the loop ends
		r.sub = r.client.Subscribe(r.ctx)
	}
}

// lost marks the subscription broken and fails the requests waiting for
// answers that can no longer arrive.
func (r *Redis) lost(err error) {
	if r.subscribed.Swap(false) {
		r.log.Warn("lost the Redis subscription", "err", err)
	}
	r.failWaiting(unavailable(err))
}

func (r *Redis) failWaiting(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for seq, ch := range r.waiting {
		select {
		case ch <- answer{err: err}:
		default:
		}
		delete(r.waiting, seq)
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

// await registers a waiter for answers to seq, with room for n.
func (r *Redis) await(n int) (uint64, chan answer) {
	seq := r.seq.Add(1)
	ch := make(chan answer, n)
	r.mu.Lock()
	r.waiting[seq] = ch
	r.mu.Unlock()
	return seq, ch
}

func (r *Redis) forget(seq uint64) {
	r.mu.Lock()
	delete(r.waiting, seq)
	r.mu.Unlock()
}

// publish sends a request or survey; it returns how many subscribers got it.
func (r *Redis) publish(ctx context.Context, channel string, e envelope) (int64, error) {
	if !r.subscribed.Load() {
		return 0, fmt.Errorf("%w: not subscribed to Redis", ErrUnavailable)
	}
	n, err := r.send(ctx, channel, e)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err() // the caller gave up first
		}
		if r.ctx.Err() != nil {
			return 0, ErrClosed // Close closed the client under the publish
		}
		return 0, unavailable(err)
	}
	return n, nil
}

// Request sends msg to node and waits for its answer, or until ctx
// ends or gone closes.
func (r *Redis) Request(ctx context.Context, node string, msg []byte, gone <-chan struct{}) ([]byte, error) {
	seq, ch := r.await(1)
	defer r.forget(seq)
	n, err := r.publish(ctx, r.keys.nodeChannel(node), envelope{kind: kindRequest, seq: seq, from: r.node, body: msg})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrNodeGone
	}
	select {
	case a := <-ch:
		return a.reply, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-gone:
		return nil, ErrNodeGone
	case <-r.ctx.Done():
		return nil, ErrClosed
	}
}

// Survey publishes msg to every node and gathers the others' answers.
func (r *Redis) Survey(ctx context.Context, msg []byte, expect []string) (map[string][]byte, error) {
	seq, ch := r.await(len(expect) + 16)
	defer r.forget(seq)
	n, err := r.publish(ctx, r.keys.allChannel(), envelope{kind: kindSurvey, seq: seq, from: r.node, body: msg})
	if err != nil {
		return nil, err
	}
	// Every subscriber but this node answers.
	return gather(ctx, r.ctx.Done(), ch, int(n)-1, expect), nil
}
