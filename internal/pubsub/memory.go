package pubsub

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/events"
)

// MemoryHub is a cluster inside one process: the Memory brokers that
// joined it reach each other as Redis brokers do through Redis. Its
// methods are safe for concurrent use.
type MemoryHub struct {
	// retention is how many entries the stream keeps, and maxBytes about
	// how much memory they may hold (events.SizeOf).
	retention, maxBytes int

	mu sync.Mutex // guards the fields below
	// brokers are the joined brokers that serve, by node id.
	brokers map[string]*Memory
	// owners maps agent ids to their owners.
	owners map[string]Owner
	// beats are the nodes' last heartbeats, by node id.
	beats map[string]beat
	// entries are the stream, oldest first, at most retention of them.
	entries []Entry
	// bytes is about the memory the entries hold.
	bytes int
	// last is the id given most recently.
	last events.ID
	// appended is closed, and replaced, whenever entries are appended.
	appended chan struct{}
}

type beat struct {
	info    NodeInfo
	expires time.Time
}

// NewMemoryHub returns an empty in-process cluster whose event stream
// keeps the last retention events, as long as they hold about maxBytes or
// less (the newest is always kept).
func NewMemoryHub(retention, maxBytes int) *MemoryHub {
	return &MemoryHub{
		retention: max(retention, 1),
		maxBytes:  maxBytes,
		brokers:   make(map[string]*Memory),
		owners:    make(map[string]Owner),
		beats:     make(map[string]beat),
		appended:  make(chan struct{}),
	}
}

// NewMemory returns the broker of a node alone: the single node's
// default, with nothing else installed.
func NewMemory(node string, retention, maxBytes int) *Memory {
	return NewMemoryHub(retention, maxBytes).Join(node)
}

// Join returns the broker of node in h.
func (h *MemoryHub) Join(node string) *Memory {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Memory{hub: h, node: node, ctx: ctx, cancel: cancel}
	m.handlers = newWorkers(ctx.Done(), &m.loops)
	return m
}

// Memory is a Broker of a MemoryHub.
type Memory struct {
	hub  *MemoryHub
	node string
	// ctx is the handlers' context, ended by Close.
	ctx    context.Context
	cancel context.CancelFunc
	// loops counts the handler goroutines.
	loops sync.WaitGroup
	// handlers runs the handler of each message, and sends its answer.
	handlers *workers

	mu sync.Mutex // guards the fields below
	// handler answers messages; nil until Serve.
	handler Handler
	closed  bool
}

var _ Broker = (*Memory)(nil)

// Node returns the id of the node m serves.
func (m *Memory) Node() string { return m.node }

// Ready reports nil: the hub is always reachable.
func (m *Memory) Ready(context.Context) error { return nil }

// Serve starts handing messages for this node to h.
func (m *Memory) Serve(h Handler) {
	m.mu.Lock()
	m.handler = h
	m.mu.Unlock()
	m.hub.mu.Lock()
	m.hub.brokers[m.node] = m
	m.hub.mu.Unlock()
}

// Close stops serving and waits for the running handlers.
func (m *Memory) Close() error {
	m.hub.mu.Lock()
	if m.hub.brokers[m.node] == m {
		delete(m.hub.brokers, m.node)
	}
	m.hub.mu.Unlock()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.loops.Wait()
	return nil
}

// handle runs the handler for one message and sends its answer to
// answers; false when m no longer serves.
func (m *Memory) handle(from string, msg []byte, answers chan<- answer) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.handler == nil {
		return false
	}
	h := m.handler
	m.handlers.run(func() {
		reply := h(m.ctx, from, bytes.Clone(msg))
		select {
		case answers <- answer{node: m.node, reply: reply}:
		case <-m.ctx.Done():
		}
	})
	return true
}

// answer is one node's answer to a request or survey, or the error that
// ends the wait for answers.
type answer struct {
	node  string
	reply []byte
	err   error
}

// Request sends msg to node and waits for its answer, or until ctx
// ends or gone closes.
func (m *Memory) Request(ctx context.Context, node string, msg []byte, gone <-chan struct{}) ([]byte, error) {
	m.hub.mu.Lock()
	target := m.hub.brokers[node]
	m.hub.mu.Unlock()
	answers := make(chan answer, 1)
	if target == nil || !target.handle(m.node, msg, answers) {
		return nil, ErrNodeGone
	}
	select {
	case a := <-answers:
		return a.reply, nil
	case <-target.ctx.Done():
		return nil, ErrNodeGone
	case <-gone:
		return nil, ErrNodeGone
	case <-m.ctx.Done():
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Survey sends msg to every other node and gathers their answers.
func (m *Memory) Survey(ctx context.Context, msg []byte, expect []string) (map[string][]byte, error) {
	m.hub.mu.Lock()
	targets := make([]*Memory, 0, len(m.hub.brokers))
	for id, b := range m.hub.brokers {
		if id != m.node {
			targets = append(targets, b)
		}
	}
	m.hub.mu.Unlock()
	answers := make(chan answer, len(targets))
	sent := 0
	for _, t := range targets {
		if t.handle(m.node, msg, answers) {
			sent++
		}
	}
	return gather(ctx, m.ctx.Done(), answers, sent, expect), nil
}

// gather collects survey answers until every node of expect answered, no
// more answers can come, or ctx or stop ends.
func gather(ctx context.Context, stop <-chan struct{}, answers <-chan answer, pending int, expect []string) map[string][]byte {
	got := make(map[string][]byte)
	waiting := make(map[string]bool, len(expect))
	for _, id := range expect {
		waiting[id] = true
	}
	for pending > 0 && len(waiting) > 0 {
		select {
		case a := <-answers:
			if a.err != nil {
				return got
			}
			got[a.node] = a.reply
			delete(waiting, a.node)
			pending--
		case <-ctx.Done():
			return got
		case <-stop:
			return got
		}
	}
	return got
}

// Register makes owner the holder of agent.
func (m *Memory) Register(_ context.Context, agent string, owner Owner) (Owner, error) {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	previous := m.hub.owners[agent]
	m.hub.owners[agent] = owner
	return previous, nil
}

// Unregister removes agent if owner still holds it.
func (m *Memory) Unregister(_ context.Context, agent string, owner Owner) error {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	if m.hub.owners[agent] == owner {
		delete(m.hub.owners, agent)
	}
	return nil
}

// Lookup returns who holds agent.
func (m *Memory) Lookup(_ context.Context, agent string) (Owner, error) {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	return m.hub.owners[agent], nil
}

// Restore registers agents again where no one else took them.
func (m *Memory) Restore(_ context.Context, agents map[string]Owner) error {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	for id, owner := range agents {
		if _, taken := m.hub.owners[id]; !taken {
			m.hub.owners[id] = owner
		}
	}
	return nil
}

// Heartbeat records that this node is alive for ttl.
func (m *Memory) Heartbeat(_ context.Context, info NodeInfo, ttl time.Duration) (bool, error) {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	now := time.Now()
	old, known := m.hub.beats[info.ID]
	known = known && old.expires.After(now)
	m.hub.beats[info.ID] = beat{info: info, expires: now.Add(ttl)}
	return known, nil
}

// Nodes lists the live nodes and those whose heartbeat expired.
func (m *Memory) Nodes(context.Context) (live []NodeInfo, dead []string, err error) {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	now := time.Now()
	for id, b := range m.hub.beats {
		if b.expires.After(now) {
			live = append(live, b.info)
		} else {
			dead = append(dead, id)
		}
	}
	slices.SortFunc(live, func(a, b NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(dead)
	return live, dead, nil
}

// Forget removes node and the agents it holds.
func (m *Memory) Forget(_ context.Context, node string) error {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	delete(m.hub.beats, node)
	for id, owner := range m.hub.owners {
		if owner.Node == node {
			delete(m.hub.owners, id)
		}
	}
	return nil
}

// Append adds evs to the stream.
func (m *Memory) Append(_ context.Context, evs []events.Event) error {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range evs {
		h.last = events.NextID(h.last, e.Time)
		h.entries = append(h.entries, Entry{ID: h.last, Event: e})
		h.bytes += events.SizeOf(e)
	}
	drop := 0
	for len(h.entries)-drop > h.retention || len(h.entries)-drop > 1 && h.bytes > h.maxBytes {
		h.bytes -= events.SizeOf(h.entries[drop].Event)
		drop++
	}
	clear(h.entries[:drop]) // let their data go now (Read hands out copies)
	h.entries = h.entries[drop:]
	close(h.appended)
	h.appended = make(chan struct{})
	return nil
}

// Read returns up to count entries after after, waiting for one.
func (m *Memory) Read(ctx context.Context, after events.ID, count int) ([]Entry, error) {
	h := m.hub
	for {
		h.mu.Lock()
		i, _ := slices.BinarySearchFunc(h.entries, after, func(e Entry, id events.ID) int { return e.ID.Compare(id) })
		if i < len(h.entries) && h.entries[i].ID == after {
			i++
		}
		if j := min(len(h.entries), i+count); i < j {
			out := slices.Clone(h.entries[i:j])
			h.mu.Unlock()
			return out, nil
		}
		wake := h.appended
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// Newest returns up to count of the newest entries.
func (m *Memory) Newest(_ context.Context, count int) ([]Entry, error) {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.entries[max(0, len(h.entries)-count):]), nil
}
