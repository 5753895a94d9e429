package node

import (
	"context"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// handle answers another node's request or survey with what this node's
// agents say. It runs on a goroutine of its own per message; ctx ends when
// the node stops.
func (n *Node) handle(ctx context.Context, from string, msg []byte) []byte {
	q, err := parseRequest(msg)
	if err != nil {
		n.log.Warn("dropping a malformed request", "peer", from, "err", err)
		return respond(codec.Payload{}, err).append(nil)
	}
	return n.serve(ctx, &q).append(nil)
}

// serve carries out q on this node's agents.
func (n *Node) serve(ctx context.Context, q *request) *response {
	switch q.op {
	case opCall:
		ctx, cancel := context.WithTimeout(ctx, q.timeout)
		defer cancel()
		return respond(n.socks.Call(ctx, q.agent, q.typ, q.data))
	case opPush:
		return respond(codec.Payload{}, n.socks.Push(q.agent, q.typ, q.data))
	case opKick:
		return respond(codec.Payload{}, n.socks.KickSession(q.agent, q.session, q.reason))
	case opJoin:
		return respond(codec.Payload{}, n.socks.JoinGroup(q.agent, q.group))
	case opLeave:
		return respond(codec.Payload{}, n.socks.LeaveGroup(q.agent, q.group))
	case opAgent:
		info, err := n.socks.Agent(q.agent)
		res := respond(codec.Payload{}, err)
		if err == nil {
			res.agents = []sockets.Info{info}
		}
		return res
	case opList:
		res := &response{}
		res.agents, res.more = n.socks.List(q.group, q.after, q.limit)
		return res
	case opBroadcast, opPushGroup:
		if !n.fanOuts.TryAcquire() {
			n.metrics.FanOutsRefused.Inc()
			return respond(codec.Payload{}, ErrOverloaded)
		}
		defer n.fanOuts.Release()
		// The node that asked checked the event; what a codec cannot
		// carry is skipped.
		f, _ := n.socks.EncodeFanOut(q.typ, q.data)
		return &response{delivered: n.deliverLocally(q, f)}
	}
	return respond(codec.Payload{}, errMalformedMessage)
}

// respond is the response that carries data, or err.
func respond(data codec.Payload, err error) *response {
	res := &response{data: data}
	res.status, res.code, res.msg = statusOf(err)
	return res
}
