// Package node is the cluster-aware front of one hotpot process, as
// centrifuge's Node is over its Hub: it owns the process's agents (a
// sockets.Server), its view of the cluster (a pubsub.Broker) and the event
// log behind /events, and answers the REST API's operations for any agent
// of the cluster — on this node when the agent is here (which keeps
// working while Redis is down), else on the node that owns it.
//
// A Node owns its cluster goroutines — the bus handlers (through its
// Broker), the heartbeat, the event outbox and the stream tailer — and
// its lifecycle: Start, then Shutdown, which drains calls, kicks agents,
// publishes their last events, ends SSE streams and deregisters the node.
package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/metrics"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// Cluster timings.
const (
	// heartbeatInterval is how often a node tells the cluster it lives,
	// and looks at which other nodes do.
	heartbeatInterval = 2 * time.Second
	// heartbeatTTL is how long a heartbeat counts: a node killed without
	// a word is seen gone within heartbeatTTL + heartbeatInterval.
	heartbeatTTL = 8 * time.Second
	// surveyTimeout is how long a broadcast or group push waits for the
	// other nodes' counts.
	surveyTimeout = 2 * time.Second
	// directoryTimeout bounds one directory operation.
	directoryTimeout = 2 * time.Second
	// flushTimeout bounds how long a stopping node waits for its last
	// events to reach the stream and its own log.
	flushTimeout = 2 * time.Second
	// joinTimeout bounds how long Start waits to hear the cluster; past
	// it the node starts alone, serving its own agents, and joins later.
	joinTimeout = 5 * time.Second
)

// Options are a Node's collaborators.
type Options struct {
	// Broker connects the node to its cluster: pubsub.NewMemory for a node
	// alone. The Node closes it in Shutdown.
	Broker pubsub.Broker
	// Log receives the node's logs; nil discards them.
	Log *slog.Logger
}

// Node is one hotpot process in its cluster. Its methods are safe for
// concurrent use.
type Node struct {
	cfg       config.Config
	id        string
	log       *slog.Logger
	metrics   *metrics.Metrics
	startedAt time.Time
	socks     *sockets.Server
	broker    pubsub.Broker
	events    *events.Log
	outbox    *outbox
	owners    ownerCache
	peers     peers

	// ctx ends the node's loops; loops counts them.
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup

	// draining is closed when Shutdown begins; streamsDone when SSE
	// streams must end, once the agents' last events are in the log.
	draining, streamsDone chan struct{}
	shutdownOnce          sync.Once
	// remoteCalls counts calls this node waits on other nodes for.
	remoteCalls atomic.Int64
	// fanOuts bounds the broadcasts and group pushes delivered at once.
	fanOuts slots
	// background runs asynchronous broadcasts; Shutdown waits for them.
	background tracker
	// restore is set when the directory may lack local agents (a
	// registration failed while Redis was down); the heartbeat restores
	// them.
	restore atomic.Bool
	// tailed is the id of the last stream entry in the log; written by the
	// tailer.
	tailed atomic.Pointer[events.ID]
	// departures are local agents to take out of the directory.
	departures chan departure

	errorLogMu sync.Mutex // guards errorLogged
	// errorLogged is when a failure of each cluster operation was last logged.
	errorLogged map[string]time.Time
}

// departuresQueued bounds the agents waiting to leave the directory.
const departuresQueued = 4096

// New returns the node of cfg in opts.Broker's cluster. Call Start, then
// Shutdown.
func New(cfg config.Config, opts Options) *Node {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	log := events.NewLog(cfg.EventRetention, cfg.EventRetentionBytes)
	m := metrics.New(log.Subscribers)
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:         cfg,
		id:          cfg.NodeID,
		log:         opts.Log,
		metrics:     m,
		startedAt:   time.Now(),
		broker:      opts.Broker,
		events:      log,
		ctx:         ctx,
		cancel:      cancel,
		draining:    make(chan struct{}),
		streamsDone: make(chan struct{}),
		departures:  make(chan departure, departuresQueued),
		fanOuts:     newSlots(cfg.MaxBroadcasts),
		errorLogged: make(map[string]time.Time),
	}
	n.outbox = newOutbox(cfg.EventRetention, cfg.EventRetentionBytes, m)
	n.owners.init()
	n.peers.init()
	n.socks = sockets.New(cfg, sockets.Options{
		Log:          opts.Log,
		Sink:         n.outbox.add,
		Metrics:      m,
		Registered:   n.registered,
		Unregistered: n.unregistered,
	})
	return n
}

// ID returns the node's id.
func (n *Node) ID() string { return n.id }

// Events returns the node's log of the cluster's agent events, which SSE
// streams read.
func (n *Node) Events() *events.Log { return n.events }

// Metrics returns the node's collectors.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Draining is closed once the node shuts down: it takes no new agents
// and its /readyz answers 503.
func (n *Node) Draining() <-chan struct{} { return n.draining }

// StreamsDone is closed once SSE streams must end, after the last events
// of the node's agents reached the log.
func (n *Node) StreamsDone() <-chan struct{} { return n.streamsDone }

// ServeWS accepts a WebSocket agent.
func (n *Node) ServeWS(w http.ResponseWriter, r *http.Request) { n.socks.ServeWS(w, r) }

// ServeTCP accepts TCP agents on ln until ln is closed.
func (n *Node) ServeTCP(ln net.Listener) error { return n.socks.ServeTCP(ln) }

// Start joins the cluster: the node answers other nodes, beats, and
// follows the cluster's event stream. What an earlier process of the same
// node id left in the directory (one killed without a word, restarted
// before its heartbeat expired) is forgotten first. Start returns once
// the node hears the cluster, so that agents welcomed after it can be
// called from any node; while Redis is down it returns after joinTimeout
// all the same, and the node keeps trying.
func (n *Node) Start() {
	ctx, cancel := context.WithTimeout(n.ctx, directoryTimeout)
	if err := n.broker.Forget(ctx, n.id); err != nil {
		n.clusterError("forget", err)
	}
	cancel()
	n.broker.Serve(n.handle)
	n.beat()
	n.loops.Go(n.heartbeatLoop)
	n.loops.Go(n.publishLoop)
	n.loops.Go(n.tailLoop)
	n.loops.Go(n.unregisterLoop)
	n.awaitCluster()
}

// awaitCluster waits, up to joinTimeout, until the node hears its
// cluster: an agent's Welcome says that any node can call it, so the
// node's own channel must be subscribed before it welcomes anyone.
func (n *Node) awaitCluster() {
	ctx, cancel := context.WithTimeout(n.ctx, joinTimeout)
	defer cancel()
	for n.broker.Ready(ctx) != nil {
		if !sleep(ctx, 10*time.Millisecond) {
			n.log.Warn("the cluster cannot be reached: serving this node's agents alone until it can", "waited", joinTimeout)
			return
		}
	}
}

// Ready reports whether the node takes work: ErrShuttingDown once it
// drains, ErrUnavailable while its cluster cannot be reached.
func (n *Node) Ready(ctx context.Context) error {
	select {
	case <-n.draining:
		return ErrShuttingDown
	default:
	}
	if err := n.broker.Ready(ctx); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

// Shutdown stops the node: it refuses new agents and calls, lets calls in
// flight finish for up to --drain-timeout, closes every agent with
// Kicked "shutdown", publishes their last events and waits until they are
// in the log, ends SSE streams, leaves the cluster and stops its loops.
// Listeners are the caller's to close; the HTTP server may keep serving
// REST until Shutdown returns.
func (n *Node) Shutdown(ctx context.Context) error {
	var err error
	n.shutdownOnce.Do(func() {
		close(n.draining)
		var remote sync.WaitGroup
		remote.Go(func() { n.waitRemoteCalls(ctx) })
		err = n.socks.Shutdown(ctx)
		remote.Wait()
		n.background.Stop()
		n.flushEvents(ctx)
		close(n.streamsDone)
		leaveCtx, cancel := context.WithTimeout(ctx, directoryTimeout)
		if ferr := n.broker.Forget(leaveCtx, n.id); ferr != nil {
			n.log.Warn("leaving the cluster", "err", ferr)
		}
		cancel()
		n.cancel()
		n.loops.Wait()
		n.broker.Close()
	})
	return err
}

// waitRemoteCalls waits, for up to --drain-timeout, until no call this
// node made to another is in flight.
func (n *Node) waitRemoteCalls(ctx context.Context) {
	deadline := time.NewTimer(n.cfg.DrainTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for n.remoteCalls.Load() > 0 {
		select {
		case <-poll.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
