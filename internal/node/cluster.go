package node

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/pubsub"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// restoreTimeout bounds registering every local agent again.
const restoreTimeout = 10 * time.Second

// peer is another live node, as the last heartbeat round saw it.
type peer struct {
	info pubsub.NodeInfo
	// gone is closed when the node is seen gone; requests to it then
	// fail.
	gone chan struct{}
}

// isGone reports whether the node has been seen gone.
func (p *peer) isGone() bool {
	select {
	case <-p.gone:
		return true
	default:
		return false
	}
}

// peers are the other live nodes. Its methods are safe for concurrent use.
type peers struct {
	mu   sync.Mutex // guards byID
	byID map[string]*peer
}

func (p *peers) init() { p.byID = make(map[string]*peer) }

// get returns the live node id, or nil.
func (p *peers) get(id string) *peer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byID[id]
}

// update makes live, less self, the live nodes, and returns the ids of
// those that are gone since the last update; their requests fail.
func (p *peers) update(live []pubsub.NodeInfo, self string) (gone []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := make(map[string]bool, len(live))
	for _, info := range live {
		if info.ID == self {
			continue
		}
		seen[info.ID] = true
		if old := p.byID[info.ID]; old != nil {
			old.info = info
			continue
		}
		p.byID[info.ID] = &peer{info: info, gone: make(chan struct{})}
	}
	for id, old := range p.byID {
		if !seen[id] {
			close(old.gone)
			delete(p.byID, id)
			gone = append(gone, id)
		}
	}
	return gone
}

// closeAll fails the requests to every node; the node is stopping.
func (p *peers) closeAll() { p.update(nil, "") }

// ownerCacheMax bounds the owner cache; when full it starts afresh.
const ownerCacheMax = 1 << 17

// ownerCache remembers which node owns a remote agent, so that a call
// costs no directory look-up. An entry can be stale: the node it names
// then answers "not here" and the caller looks again.
type ownerCache struct {
	mu      sync.RWMutex // guards byAgent
	byAgent map[string]string
}

func (c *ownerCache) init() { c.byAgent = make(map[string]string) }

func (c *ownerCache) get(agent string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	node, ok := c.byAgent[agent]
	return node, ok
}

func (c *ownerCache) put(agent, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byAgent) >= ownerCacheMax {
		clear(c.byAgent)
	}
	c.byAgent[agent] = node
}

func (c *ownerCache) forget(agent string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byAgent, agent)
}

// forgetNode drops every entry that names node.
func (c *ownerCache) forgetNode(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maps.DeleteFunc(c.byAgent, func(_, n string) bool { return n == node })
}

// heartbeatLoop beats every heartbeatInterval until the node stops.
func (n *Node) heartbeatLoop() {
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n.beat()
		case <-n.ctx.Done():
			n.peers.closeAll()
			return
		}
	}
}

// beat tells the cluster this node lives, registers its agents again if
// the directory forgot them, and looks at which other nodes live.
func (n *Node) beat() {
	ctx, cancel := context.WithTimeout(n.ctx, directoryTimeout)
	defer cancel()
	info := pubsub.NodeInfo{
		ID: n.id, Address: n.cfg.HTTPAddr, Agents: n.socks.Len(),
		StartedAt: n.startedAt.UTC(), LastHeartbeat: time.Now().UTC(),
	}
	known, err := n.broker.Heartbeat(ctx, info, heartbeatTTL)
	if err != nil {
		n.clusterError("heartbeat", err)
		return
	}
	if !known || n.restore.Swap(false) {
		n.restoreAgents()
	}
	n.refreshPeers(ctx)
}

// restoreAgents registers every local agent again, where no newer
// session of its id took it meanwhile.
func (n *Node) restoreAgents() {
	sessions := n.socks.Sessions()
	owners := make(map[string]pubsub.Owner, len(sessions))
	for id, session := range sessions {
		owners[id] = pubsub.Owner{Node: n.id, Session: session}
	}
	ctx, cancel := context.WithTimeout(n.ctx, restoreTimeout)
	defer cancel()
	if err := n.broker.Restore(ctx, owners); err != nil {
		n.restore.Store(true)
		n.clusterError("restore", err)
		return
	}
	if len(owners) > 0 {
		n.log.Info("registered the node's agents again", "agents", len(owners))
	}
}

// peer returns the live node id, or nil. A node not among the peers is
// looked for once more in the directory: it may have joined since this
// node's last heartbeat.
func (n *Node) peer(ctx context.Context, id string) *peer {
	if p := n.peers.get(id); p != nil {
		return p
	}
	n.refreshPeers(ctx)
	return n.peers.get(id)
}

// refreshPeers reads the live nodes: requests to nodes gone since fail,
// and nodes whose heartbeat expired are forgotten with their agents.
func (n *Node) refreshPeers(ctx context.Context) {
	live, dead, err := n.broker.Nodes(ctx)
	if err != nil {
		n.clusterError("nodes", err)
		return
	}
	for _, id := range n.peers.update(live, n.id) {
		n.owners.forgetNode(id)
		n.log.Info("node left the cluster", "peer", id)
	}
	for _, id := range dead {
		if err := n.broker.Forget(ctx, id); err != nil {
			n.clusterError("forget", err)
			return
		}
		n.log.Warn("forgot a node whose heartbeat stopped, with its agents", "peer", id)
	}
}

// registered puts a new local agent in the directory, before its
// Welcome, and has an older session of its id on another node kicked
// with reason "replaced". While the directory cannot be reached the
// agent works locally, and the heartbeat registers it later.
//
// It runs once per connection, so it makes no timer of its own: the Redis
// client's dial, pool and I/O timeouts bound the call.
func (n *Node) registered(id string, session uint64) {
	previous, err := n.broker.Register(n.ctx, id, pubsub.Owner{Node: n.id, Session: session})
	if err != nil {
		n.restore.Store(true)
		n.clusterError("register", err)
		return
	}
	n.owners.forget(id)
	if !previous.IsZero() && previous.Node != n.id {
		n.loops.Go(func() { n.kickReplaced(id, previous) })
	}
}

// kickReplaced closes the older session of id on its node.
func (n *Node) kickReplaced(id string, old pubsub.Owner) {
	ctx, cancel := context.WithTimeout(n.ctx, directoryTimeout)
	defer cancel()
	q := request{op: opKick, agent: id, session: old.Session, reason: sockets.ReasonReplaced}
	if _, err := n.ask(ctx, old.Node, q.append(nil)); err != nil && !errors.Is(err, errNotHere) {
		n.log.Debug("kicking a replaced session", "agent", id, "peer", old.Node, "err", err)
	}
}

// departure is a local agent session to take out of the directory.
type departure struct {
	id    string
	owner pubsub.Owner
}

// unregistered queues a local agent to be taken out of the directory,
// unless a newer session took its id meanwhile. It is called on the
// agent's read loop, which must not wait for Redis: when the queue is
// full the entry is left behind, and calls routed by it find the agent
// gone and answer 404.
func (n *Node) unregistered(id string, session uint64) {
	select {
	case n.departures <- departure{id, pubsub.Owner{Node: n.id, Session: session}}:
	default:
		n.metrics.ClusterErrors.WithLabelValues("unregister").Inc()
	}
}

// unregisterLoop takes departed agents out of the directory until the
// node stops; the node's own departure from the cluster takes the rest.
func (n *Node) unregisterLoop() {
	for {
		select {
		case d := <-n.departures:
			ctx, cancel := context.WithTimeout(n.ctx, directoryTimeout)
			if err := n.broker.Unregister(ctx, d.id, d.owner); err != nil {
				n.clusterError("unregister", err)
			}
			cancel()
		case <-n.ctx.Done():
			return
		}
	}
}

// clusterErrorLogEvery bounds how often failures of one operation are
// logged while the cluster is unreachable.
const clusterErrorLogEvery = 5 * time.Second

// clusterError counts a failed cluster operation and logs it, once in a
// while per operation.
func (n *Node) clusterError(op string, err error) {
	if n.ctx.Err() != nil {
		return
	}
	n.metrics.ClusterErrors.WithLabelValues(op).Inc()
	n.errorLogMu.Lock()
	last := n.errorLogged[op]
	due := time.Since(last) >= clusterErrorLogEvery
	if due {
		n.errorLogged[op] = time.Now()
	}
	n.errorLogMu.Unlock()
	if due {
		n.log.Warn("cluster operation failed", "op", op, "err", err)
	}
}
