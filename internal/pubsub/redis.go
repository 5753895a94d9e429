package pubsub

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
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
	// clusterStateReload is how old a Redis Cluster's slot map may grow
	// before a command asks for it again.
	clusterStateReload = time.Second
)

// RedisOptions configure a Redis broker.
type RedisOptions struct {
	// URL is redis://… or rediss://…, with password, db and TLS as
	// go-redis's ParseURL reads them; with Cluster, as its
	// ParseClusterURL does.
	URL string
	// Cluster makes URL name seed nodes of a Redis Cluster (more as
	// addr=host:port in its query) rather than one server.
	Cluster bool
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
// one Redis server, or a Redis Cluster: there the channels are sharded
// (SPUBLISH, SSUBSCRIBE), so a message to one node goes through the one
// Redis node that serves its channel's hash slot, and no further.
type Redis struct {
	node      string
	keys      keys
	retention int64
	// window trims the stream to RetentionBytes, from the entries reads
	// hand out.
	window *streamWindow
	client redis.UniversalClient
	// cluster watches the masters of a Redis Cluster; nil on one server.
	// On a Redis Cluster the channels are shard channels.
	cluster *clusterWatch
	// moved watches a lone server for the answers of a Redis Cluster;
	// nil on a Redis Cluster.
	moved *movedWatch
	// subs are the subscriptions to the node's channels: one on a single
	// server; one per channel on a Redis Cluster, whose shard channels
	// may live on different Redis nodes.
	subs []*subscription
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
	// loops counts the subscribers' goroutines and the handler goroutines.
	loops sync.WaitGroup
	// handlers runs the handler of each request and survey, and
	// publishes its answer.
	handlers *workers
	// seq numbers the requests and surveys this node sends.
	seq atomic.Uint64
	// subscribed counts the subs that are subscribed.
	subscribed atomic.Int32

	mu sync.Mutex // guards the fields below
	// waiting are the requests and surveys waiting for answers, by seq.
	waiting map[uint64]chan answer
	handler Handler
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
	client, db, err := newRedisClient(opts.URL, opts.Cluster)
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	setRedisLogger.Do(func() { redis.SetLogger(redisLogger{opts.Log}) })
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{
		node:        opts.Node,
		keys:        newKeys(opts.Prefix, db),
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
	if c, ok := client.(*redis.ClusterClient); ok {
		r.cluster = &clusterWatch{client: c}
	} else {
		r.moved = &movedWatch{log: r.log}
		client.AddHook(r.moved)
	}
	node, all := r.keys.nodeChannel(r.node), r.keys.allChannel()
	if r.cluster != nil {
		r.subs = []*subscription{{r: r, channels: []string{node}, answers: true}, {r: r, channels: []string{all}}}
	} else {
		r.subs = []*subscription{{r: r, channels: []string{node, all}, answers: true}}
	}
	return r, nil
}

// newRedisClient returns the client of url, a Redis Cluster's when
// cluster is set, and the database it selects.
func newRedisClient(url string, cluster bool) (redis.UniversalClient, int, error) {
	// RESP2 unless the URL asks for RESP3 (?protocol=3): nothing here
	// needs RESP3, and go-redis peeks for push notifications before each
	// RESP3 reply, at 5-8 % of a node's CPU on cross-node pushes.
	const protocol = 2
	if cluster {
		o, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, 0, err
		}
		if db := clusterURLDatabase(url); db != "" && db != "0" {
			return nil, 0, fmt.Errorf("a Redis Cluster has database 0 alone, not %s", db)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = redisDialTimeout, redisIOTimeout, redisIOTimeout, redisIOTimeout
		// One attempt more, by the cluster client (a node's client of its
		// own makes none): about 2 s to fail against a frozen master, as
		// against a lone server.
		o.DisableIdentity, o.MaxRedirects, o.DialerRetries = true, 1, 1
		// Learn the slots again at most a second after they may have
		// moved, as a failover or a resharding moves them (go-redis's
		// default is a minute): a subscription that broke or was
		// refused then finds its channel's new master by itself.
		o.ClusterStateReloadInterval = clusterStateReload
		if o.Protocol == 0 {
			o.Protocol = protocol
		}
		return redis.NewClusterClient(o), 0, nil
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, 0, err
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = redisDialTimeout, redisIOTimeout, redisIOTimeout, redisIOTimeout
	o.MaxRetries, o.DisableIdentity = 1, true
	if o.Protocol == 0 {
		o.Protocol = protocol
	}
	return redis.NewClient(o), o.DB, nil
}

// clusterURLDatabase returns the database a URL's path names, if any:
// go-redis's ParseClusterURL ignores it.
func clusterURLDatabase(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.Trim(u.Path, "/")
}

// Node returns the id of the node r serves.
func (r *Redis) Node() string { return r.node }

// Ready reports whether the node's channels are subscribed and Redis
// answers a PING: every master of a Redis Cluster.
func (r *Redis) Ready(ctx context.Context) error {
	if r.moved != nil && r.moved.seen.Load() {
		return unavailable(errRedisIsCluster)
	}
	if !r.allSubscribed() {
		return fmt.Errorf("%w: not subscribed to Redis", ErrUnavailable)
	}
	ping := func(ctx context.Context) error { return r.client.Ping(ctx).Err() }
	if r.cluster != nil {
		ping = r.cluster.ping
	}
	if err := ping(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// unavailable wraps a Redis error in ErrUnavailable.
func unavailable(err error) error {
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// allSubscribed reports whether every one of the node's channels is
// subscribed.
func (r *Redis) allSubscribed() bool { return int(r.subscribed.Load()) == len(r.subs) }

// Close stops the subscribers, fails waiting requests with ErrClosed,
// waits for the handlers, then for the senders to publish what is
// queued, and closes the connections. It may be called again.
func (r *Redis) Close() error {
	r.cancel()
	r.mu.Lock()
	for _, s := range r.subs {
		if s.sub != nil {
			s.sub.Close() // ends a receive in progress
		}
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

// failWaiting ends every wait for answers (requests, surveys) with err.
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
	if !r.allSubscribed() {
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
