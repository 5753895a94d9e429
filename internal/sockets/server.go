// Package sockets owns client connections: WebSocket and raw TCP agents,
// their read loops and send queues, keepalive, and the calls, pushes and
// kicks the rest of the node makes to them.
//
// Each agent has one read loop goroutine that owns its lifecycle, and a
// writer goroutine that runs only while frames are queued for it. The
// Server owns every such goroutine and waits for them in Shutdown.
package sockets

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/keepalive"
)

// Server holds the agents connected to this node. Its methods are safe for
// concurrent use.
type Server struct {
	cfg       config.Config
	log       *slog.Logger
	sink      EventSink
	keepalive *keepalive.Monitor

	// stopKeepalive ends the keepalive goroutine, which closes
	// keepaliveDone when it returns.
	stopKeepalive context.CancelFunc
	keepaliveDone chan struct{}

	// conns counts WebSocket and TCP connections, handshakes included.
	conns atomic.Int64
	// callSeq numbers calls; the number is the call id on the wire.
	callSeq atomic.Uint64
	// lateReplies counts replies that found no waiting call.
	lateReplies atomic.Int64

	mu sync.RWMutex // guards the fields below
	// agents are the registered agents, by id.
	agents map[string]*agent
	// shuttingDown refuses new connections once Shutdown has begun.
	shuttingDown bool
	// loops counts connection goroutines (handshakes and read loops); it
	// is only added to under mu while not shutting down, so Shutdown's
	// Wait never races an Add.
	loops sync.WaitGroup
}

// New returns a server for cfg and starts its keepalive monitor. sink
// receives every agent event; it may be nil. The caller must call Shutdown.
func New(cfg config.Config, log *slog.Logger, sink EventSink) *Server {
	if sink == nil {
		sink = func(events.Event) {}
	}
	s := &Server{
		cfg:           cfg,
		log:           log,
		sink:          sink,
		keepalive:     keepalive.New(cfg.KeepaliveInterval, cfg.KeepaliveLimit),
		agents:        make(map[string]*agent),
		keepaliveDone: make(chan struct{}),
	}
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

// LateReplies returns how many replies arrived after their call ended, or
// for no call at all.
func (s *Server) LateReplies() int64 { return s.lateReplies.Load() }

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
// that had it. It fails with ErrShuttingDown once Shutdown has begun. It
// is called on a's read loop, which runs the agent next.
func (s *Server) register(a *agent) error {
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		return ErrShuttingDown
	}
	old := s.agents[a.id]
	s.agents[a.id] = a
	s.mu.Unlock()
	if old != nil {
		old.close(ReasonReplaced)
		old.announceDisconnect()
	}
	return nil
}

// unregister removes a unless another agent has taken its id since.
func (s *Server) unregister(a *agent) {
	s.mu.Lock()
	if s.agents[a.id] == a {
		delete(s.agents, a.id)
	}
	s.mu.Unlock()
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

func (s *Server) publish(e events.Event) {
	e.Node = s.cfg.NodeID
	e.Time = time.Now()
	s.sink(e)
}

// Shutdown refuses new connections, closes every agent with reason
// shutdown (WebSocket close 1001) and waits until they are gone or ctx
// ends. Listeners are the caller's to close first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown = true
	s.mu.Unlock()
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
