// Package sockets owns client connections: WebSocket and raw TCP agents,
// their read loops and send queues, keepalive, token expiry and rate
// limits, and the calls, pushes and kicks the rest of the node makes to
// them.
//
// Each agent has one read loop goroutine that owns its lifecycle, and a
// writer goroutine that runs only while frames wait for it (a send to an
// idle agent is written by the sender, without blocking). The Server owns
// every read loop and waits for them in Shutdown; each read loop waits for
// its writer.
package sockets

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"

	"github.com/hotpot-rt/hotpot/internal/auth"
	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/keepalive"
	"github.com/hotpot-rt/hotpot/internal/metrics"
)

// Options are the Server's collaborators.
type Options struct {
	// Log receives the server's logs; nil discards them.
	Log *slog.Logger
	// Sink receives every agent event; nil drops them.
	Sink EventSink
	// Metrics is updated as agents come, go and exchange frames; nil keeps
	// a private set.
	Metrics *metrics.Metrics
	// Registered, when set, is told of each agent once it is reachable on
	// this node and before its Welcome: from then on other nodes may call
	// it. It runs on the agent's read loop, which it may hold up briefly.
	Registered func(id string, session uint64)
	// Unregistered, when set, is told of each agent that Registered saw,
	// once it is no longer reachable here. It must not block.
	Unregistered func(id string, session uint64)
}

// Server holds the agents connected to this node. Its methods are safe for
// concurrent use.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	sink    EventSink
	metrics *metrics.Metrics
	// registered and unregistered are Options.Registered and Unregistered.
	registered, unregistered func(id string, session uint64)
	keepalive                *keepalive.Monitor
	// verifier checks client tokens; nil in the anonymous dev mode.
	verifier *auth.Verifier
	// ws and tcp count frames of each transport.
	ws, tcp *transportMetrics
	// fixed holds each codec's frames that never change.
	fixed map[codec.Codec]*fixedFrames
	// rateLimit is the limit on the frames each agent sends.
	rateLimit rateLimit
	// spent keeps the buckets of agents that left with them short of full.
	spent *spentBuckets
	// broadcasts delivers Broadcast's events, coalescing them under load.
	broadcasts broadcaster
	// epoch is when the server started; agents' buckets count time from
	// it on the monotonic clock.
	epoch time.Time

	// stopKeepalive ends the keepalive goroutine, which closes
	// keepaliveDone when it returns.
	stopKeepalive context.CancelFunc
	keepaliveDone chan struct{}

	// conns counts WebSocket and TCP connections, handshakes included.
	conns atomic.Int64
	// handshakes bounds the connections of one address in handshake.
	handshakes *handshakes
	// callSeq numbers calls; the number is the call id on the wire.
	callSeq atomic.Uint64
	// sessionSeq numbers agents, so that two sessions of one id differ.
	sessionSeq atomic.Uint64
	// pendingCalls counts calls waiting for a reply.
	pendingCalls atomic.Int64
	// drained is closed when Shutdown stops waiting for pending calls;
	// those still waiting then fail with ErrShuttingDown.
	drained   chan struct{}
	drainOnce sync.Once

	mu sync.RWMutex // guards the fields below
	// agents are the registered agents, by id.
	agents map[string]*agent
	// ordered holds the registered agents in id order, for pages of the
	// agent list.
	ordered *btree.BTreeG[*agent]
	// groups are the members of each group with at least one member, in
	// id order.
	groups map[string]*btree.BTreeG[*agent]
	// shuttingDown refuses new connections once Shutdown has begun.
	shuttingDown bool
	// loops counts connection goroutines (handshakes and read loops); it
	// is only added to under mu while not shutting down, so Shutdown's
	// Wait never races an Add.
	loops sync.WaitGroup
}

// New returns a server for cfg and starts its keepalive monitor. With
// cfg.JWTSecret set, clients must present a token, and a session ends
// when its token expires. With cfg.RateLimit set, each agent's frames are
// limited to it (see rateLimit). The caller must call Shutdown.
func New(cfg config.Config, opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Sink == nil {
		opts.Sink = func(events.Event) {}
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(func() int { return 0 })
	}
	if opts.Registered == nil {
		opts.Registered = func(string, uint64) {}
	}
	if opts.Unregistered == nil {
		opts.Unregistered = func(string, uint64) {}
	}
	limit := newRateLimit(cfg)
	s := &Server{
		cfg:           cfg,
		log:           opts.Log,
		sink:          opts.Sink,
		metrics:       opts.Metrics,
		registered:    opts.Registered,
		unregistered:  opts.Unregistered,
		keepalive:     keepalive.New(cfg.KeepaliveInterval, cfg.KeepaliveLimit),
		ws:            newTransportMetrics(opts.Metrics, TransportWS),
		tcp:           newTransportMetrics(opts.Metrics, TransportTCP),
		fixed:         newFixedFrames(rateLimitedMessage(cfg)),
		handshakes:    newHandshakes(cfg.MaxHandshakesPerIP),
		rateLimit:     limit,
		spent:         newSpentBuckets(limit),
		epoch:         time.Now(),
		agents:        make(map[string]*agent),
		ordered:       newAgentIndex(),
		groups:        make(map[string]*btree.BTreeG[*agent]),
		keepaliveDone: make(chan struct{}),
		drained:       make(chan struct{}),
	}
	if cfg.JWTSecret != "" {
		s.verifier = auth.NewVerifier(auth.Rules{
			Secret:   cfg.JWTSecret,
			Audience: cfg.JWTAudience,
			Issuer:   cfg.JWTIssuer,
			ValidID:  ValidID,
		})
	}
	s.broadcasts.srv = s
	ctx, cancel := context.WithCancel(context.Background())
	s.stopKeepalive = cancel
	go func() {
		defer close(s.keepaliveDone)
		s.keepalive.Run(ctx)
	}()
	return s
}

// Len returns how many agents are registered.
func (s *Server) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.agents)
}

// admit counts a new connection, or reports why it is refused: with
// ErrShuttingDown, or errTooManyConns beyond --max-conns. An admitted
// connection is given back with release.
func (s *Server) admit() error {
	s.mu.RLock()
	down := s.shuttingDown
	s.mu.RUnlock()
	if down {
		return ErrShuttingDown
	}
	if s.conns.Add(1) > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		return errTooManyConns
	}
	return nil
}

// release gives back a connection counted by admit.
func (s *Server) release() { s.conns.Add(-1) }

// goLoop runs fn in a connection goroutine the server waits for in
// Shutdown. It returns false, without running fn, once Shutdown has begun.
func (s *Server) goLoop(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown {
		return false
	}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		fn()
	}()
	return true
}

// register makes a reachable by its id, replacing (and closing) any agent
// that had it, and joins it to groups. It fails with ErrShuttingDown once
// Shutdown has begun. It is called on a's read loop, which runs the agent
// next.
func (s *Server) register(a *agent, groups []string) error {
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		return ErrShuttingDown
	}
	a.session = s.sessionSeq.Add(1)
	old := s.agents[a.id]
	s.agents[a.id] = a
	s.ordered.ReplaceOrInsert(a)
	for _, g := range groups {
		s.joinLocked(a, g) // a token's groups beyond --max-groups are left out
	}
	s.mu.Unlock()
	if old != nil {
		old.close(ReasonReplaced)
		old.announceDisconnect()
	}
	s.metrics.Agents.WithLabelValues(a.transport, a.codec.Name()).Inc()
	return nil
}

// unregister removes a from the group index, and from the agents unless
// another agent has taken its id since. a keeps its own list of groups,
// which its agent.disconnected event carries.
func (s *Server) unregister(a *agent) {
	s.mu.Lock()
	if s.agents[a.id] == a {
		delete(s.agents, a.id)
	}
	removeFromIndex(s.ordered, a)
	for _, g := range a.groupList() {
		s.removeMemberLocked(a, g)
	}
	s.mu.Unlock()
	s.metrics.Agents.WithLabelValues(a.transport, a.codec.Name()).Dec()
}

// Sessions returns the session of every registered agent, by id.
func (s *Server) Sessions() map[string]uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]uint64, len(s.agents))
	for id, a := range s.agents {
		out[id] = a.session
	}
	return out
}

func (s *Server) lookup(id string) *agent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.agents[id]
}

func (s *Server) snapshot() []*agent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*agent, 0, len(s.agents))
	for _, a := range s.agents {
		out = append(out, a)
	}
	return out
}

// drain waits until no call is pending, --drain-timeout passes or ctx
// ends, then fails the calls still pending.
func (s *Server) drain(ctx context.Context) {
	defer close(s.drained)
	timeout := time.NewTimer(s.cfg.DrainTimeout)
	defer timeout.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for s.pendingCalls.Load() > 0 {
		select {
		case <-poll.C:
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// draining reports whether Shutdown has begun.
func (s *Server) draining() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.shuttingDown
}

// Shutdown refuses new connections and calls, lets pending calls finish
// for up to --drain-timeout (those still waiting then fail with
// ErrShuttingDown), closes every agent with reason shutdown (WebSocket
// close 1001) and waits until they are gone or ctx ends. Listeners are
// the caller's to close first. Calling it again waits again.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown = true
	s.mu.Unlock()
	s.drainOnce.Do(func() { s.drain(ctx) })
	agents := s.snapshot()
	for _, a := range agents {
		a.close(ReasonShutdown)
	}
	done := make(chan struct{})
	go func() {
		s.loops.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, a := range agents {
			a.link.abort()
		}
		<-done
	}
	s.stopKeepalive()
	<-s.keepaliveDone
	return err
}
