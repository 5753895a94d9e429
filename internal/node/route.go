package node

import (
	"context"
	"errors"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// Operations on one agent: each is tried on this node first, then sent to
// the node that owns the agent.

// Call sends the agent a message of type typ and waits for its Reply
// until ctx's deadline, wherever in the cluster the agent is. It returns
// the reply's data; a *ReplyError when the client answered with a
// non-zero code; ErrAgentNotFound; ErrAgentGone when the agent left, or
// its node died, mid-call; ErrTimeout; ErrQueueFull, ErrMessageTooBig,
// codec.ErrNotJSON or codec.ErrMalformed for data the client cannot be
// given; ErrBadReply; ErrShuttingDown when this node or the agent's is
// draining; ErrUnavailable when the agent is not here and the cluster
// cannot be reached.
func (n *Node) Call(ctx context.Context, id, typ string, data codec.Payload) (codec.Payload, error) {
	reply, err := n.socks.Call(ctx, id, typ, data)
	if !errors.Is(err, sockets.ErrAgentNotFound) {
		return reply, err
	}
	select {
	case <-n.draining:
		return codec.Payload{}, ErrShuttingDown
	default:
	}
	n.remoteCalls.Add(1)
	defer n.remoteCalls.Add(-1)
	q := request{op: opCall, agent: id, typ: typ, data: data, timeout: defaultCallTimeout}
	if deadline, ok := ctx.Deadline(); ok {
		q.timeout = time.Until(deadline)
	}
	res, err := n.remote(ctx, &q)
	return res.data, err
}

// defaultCallTimeout bounds a call whose context has no deadline.
const defaultCallTimeout = 5 * time.Second

// Push sends the agent one event and returns once it is queued for the
// client: ErrAgentNotFound (also when it is just leaving), ErrQueueFull,
// ErrMessageTooBig, codec.ErrNotJSON, ErrAgentGone when its node died
// meanwhile, or ErrUnavailable otherwise.
func (n *Node) Push(ctx context.Context, id, typ string, data codec.Payload) error {
	err := n.socks.Push(id, typ, data)
	if errors.Is(err, sockets.ErrAgentNotFound) {
		_, err = n.remote(ctx, &request{op: opPush, agent: id, typ: typ, data: data})
	}
	return err
}

// Kick closes the agent, telling it reason in Kicked.
func (n *Node) Kick(ctx context.Context, id, reason string) error {
	err := n.socks.Kick(id, reason)
	if errors.Is(err, sockets.ErrAgentNotFound) {
		_, err = n.remote(ctx, &request{op: opKick, agent: id, reason: reason})
	}
	return err
}

// JoinGroup adds the agent to group; joining twice is harmless.
func (n *Node) JoinGroup(ctx context.Context, id, group string) error {
	err := n.socks.JoinGroup(id, group)
	if errors.Is(err, sockets.ErrAgentNotFound) {
		_, err = n.remote(ctx, &request{op: opJoin, agent: id, group: group})
	}
	return err
}

// LeaveGroup removes the agent from group; leaving a group the agent is
// not in is harmless.
func (n *Node) LeaveGroup(ctx context.Context, id, group string) error {
	err := n.socks.LeaveGroup(id, group)
	if errors.Is(err, sockets.ErrAgentNotFound) {
		_, err = n.remote(ctx, &request{op: opLeave, agent: id, group: group})
	}
	return err
}

// Agent describes the agent, wherever in the cluster it is.
func (n *Node) Agent(ctx context.Context, id string) (sockets.Info, error) {
	info, err := n.socks.Agent(id)
	if !errors.Is(err, sockets.ErrAgentNotFound) {
		return info, err
	}
	res, err := n.remote(ctx, &request{op: opAgent, agent: id})
	if err != nil {
		return sockets.Info{}, err
	}
	if len(res.agents) != 1 {
		return sockets.Info{}, errMalformedMessage
	}
	return res.agents[0], nil
}

// remote sends q to the node that owns q.agent and returns its response.
// The owner comes from the cache when it has one; a node that no longer
// has the agent answers "not here", and the owner is looked up afresh.
func (n *Node) remote(ctx context.Context, q *request) (response, error) {
	msg := q.append(nil)
	for useCache := true; ; useCache = false {
		owner, cached, err := n.ownerOf(ctx, q.agent, useCache)
		if err != nil {
			return response{}, err
		}
		start := time.Now()
		res, err := n.ask(ctx, owner, msg)
		n.metrics.ClusterRequestSeconds.Observe(time.Since(start).Seconds())
		n.metrics.ClusterRequests.WithLabelValues(opNames[q.op], outcomeOf(err)).Inc()
		if errors.Is(err, errNotHere) {
			n.owners.forget(q.agent)
			if cached {
				continue
			}
			return response{}, ErrAgentNotFound
		}
		return res, err
	}
}

// ownerOf returns the node that owns agent, from the cache when useCache
// and it has one (cached is then true), else from the directory. A node
// that is not live owns nothing.
func (n *Node) ownerOf(ctx context.Context, agent string, useCache bool) (node string, cached bool, err error) {
	if useCache {
		if node, ok := n.owners.get(agent); ok {
			return node, true, nil
		}
	}
	lctx, cancel := context.WithTimeout(ctx, directoryTimeout)
	defer cancel()
	owner, err := n.broker.Lookup(lctx, agent)
	if err != nil {
		n.clusterError("lookup", err)
		return "", false, ErrUnavailable
	}
	if owner.IsZero() || owner.Node == n.id {
		return "", false, ErrAgentNotFound
	}
	if n.peer(lctx, owner.Node) == nil {
		return "", false, ErrAgentNotFound
	}
	n.owners.put(agent, owner.Node)
	return owner.Node, false, nil
}

// ask sends msg to node and returns its response, as an error when it
// stands for one. A request to a node that is not listening, or not
// live, fails with errNotHere (a node not among the peers is looked up
// first: it may have joined since the last heartbeat); one whose node is
// seen gone while it waits fails with ErrAgentGone.
func (n *Node) ask(ctx context.Context, node string, msg []byte) (response, error) {
	p := n.peer(ctx, node)
	if p == nil {
		return response{}, errNotHere
	}
	// p.gone ends the wait when the node is seen gone. Handing it to the
	// bus costs nothing; a context merged of ctx and the node's life
	// would cost every request two registrations and six allocations.
	b, err := n.broker.Request(ctx, node, msg, p.gone)
	switch {
	case err == nil:
	case p.isGone(): // seen gone while it waited
		return response{}, ErrAgentGone
	case errors.Is(err, pubsub.ErrNodeGone):
		return response{}, errNotHere
	case errors.Is(err, context.DeadlineExceeded):
		return response{}, ErrTimeout
	case errors.Is(err, pubsub.ErrUnavailable):
		return response{}, errors.Join(ErrUnavailable, err)
	case errors.Is(err, pubsub.ErrClosed):
		return response{}, ErrShuttingDown
	default:
		return response{}, err
	}
	res, err := parseResponse(b)
	if err != nil {
		return response{}, err
	}
	return res, res.err()
}

// opNames name operations in metrics.
var opNames = map[byte]string{
	opCall: "call", opPush: "push", opKick: "kick", opJoin: "join", opLeave: "leave",
	opAgent: "agent", opList: "list", opBroadcast: "broadcast", opPushGroup: "push_group",
}

// outcomeOf names how a request to another node ended, for metrics.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errNotHere):
		return "not_here"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrAgentGone):
		return "gone"
	}
	return "error"
}
