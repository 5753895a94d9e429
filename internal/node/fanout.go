package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// Operations on every node: one survey, whose answers the caller sums or
// merges with its own.

// Delivery says how far an event pushed to many agents went.
type Delivery struct {
	// Delivered is how many agents had it queued.
	Delivered int
	// Nodes is how many nodes answered, this one included.
	Nodes int
	// Partial is true when some live node did not answer within 2 s, or
	// the cluster could not be reached: Delivered counts only the others.
	Partial bool
}

// Broadcast sends one event to every agent of the cluster. Having sent
// nothing, it fails with ErrMessageTooBig, codec.ErrNotJSON or
// codec.ErrMalformed when some client could not be given the event (as a
// push to it would fail), and with ErrOverloaded when the node has
// --max-broadcasts fan-outs in flight.
func (n *Node) Broadcast(ctx context.Context, typ string, data codec.Payload) (Delivery, error) {
	f, err := n.admitFanOut(typ, data)
	if err != nil {
		return Delivery{}, err
	}
	return n.fanOut(ctx, &request{op: opBroadcast, typ: typ, data: data}, f), nil
}

// BroadcastAsync starts a Broadcast and returns at once; the node waits
// for it when it stops. It fails as Broadcast does, with nothing sent,
// and with ErrShuttingDown once the node drains.
func (n *Node) BroadcastAsync(typ string, data codec.Payload) error {
	f, err := n.admitFanOut(typ, data)
	if err != nil {
		return err
	}
	if !n.background.Go(func() { n.fanOut(n.ctx, &request{op: opBroadcast, typ: typ, data: data}, f) }) {
		n.fanOuts.Release()
		return ErrShuttingDown
	}
	return nil
}

// PushGroup sends one event to every member of group in the cluster; it
// fails as Broadcast does.
func (n *Node) PushGroup(ctx context.Context, group, typ string, data codec.Payload) (Delivery, error) {
	f, err := n.admitFanOut(typ, data)
	if err != nil {
		return Delivery{}, err
	}
	return n.fanOut(ctx, &request{op: opPushGroup, group: group, typ: typ, data: data}, f), nil
}

// admitFanOut encodes an event for a broadcast or group push and takes a
// fan-out slot, which fanOut gives back; it fails as Broadcast says.
func (n *Node) admitFanOut(typ string, data codec.Payload) (sockets.FanOut, error) {
	f, err := n.socks.EncodeFanOut(typ, data)
	if err != nil {
		return f, err
	}
	if !n.fanOuts.TryAcquire() {
		n.metrics.FanOutsRefused.Inc()
		return f, ErrOverloaded
	}
	return f, nil
}

// fanOut surveys the other nodes with q while it delivers f locally, and
// sums the counts. It holds a fan-out slot, which it releases once the
// local delivery is done: waiting for other nodes costs this one nothing.
func (n *Node) fanOut(ctx context.Context, q *request, f sockets.FanOut) Delivery {
	var local int
	var wg sync.WaitGroup
	wg.Go(func() {
		defer n.fanOuts.Release()
		local = n.deliverLocally(q, f)
	})
	answers, complete := n.survey(ctx, q)
	wg.Wait()
	d := Delivery{Delivered: local, Nodes: 1 + len(answers), Partial: !complete}
	for _, res := range answers {
		d.Delivered += res.delivered
		d.Partial = d.Partial || res.status == statusOverloaded
	}
	return d
}

// deliverLocally delivers a broadcast or group push to this node's agents.
func (n *Node) deliverLocally(q *request, f sockets.FanOut) int {
	if q.op == opPushGroup {
		return n.socks.PushGroup(q.group, f)
	}
	return n.socks.Broadcast(f)
}

// survey sends q to every other node and returns the answers that came
// within surveyTimeout, by node, and whether every live node answered.
// The live nodes are read afresh, so that one that joined since the last
// heartbeat is waited for, and one that hangs is seen missing.
func (n *Node) survey(ctx context.Context, q *request) (map[string]response, bool) {
	ctx, cancel := context.WithTimeout(ctx, surveyTimeout)
	defer cancel()
	live, _, err := n.broker.Nodes(ctx)
	if err != nil {
		n.clusterError("survey", err)
		return nil, false
	}
	expect := make([]string, 0, len(live))
	for _, info := range live {
		if info.ID != n.id {
			expect = append(expect, info.ID)
		}
	}
	raw, err := n.broker.Survey(ctx, q.append(nil), expect)
	if err != nil {
		n.clusterError("survey", err)
		return nil, false
	}
	answers := make(map[string]response, len(raw))
	for node, b := range raw {
		if res, err := parseResponse(b); err == nil {
			answers[node] = res
		}
	}
	for _, id := range expect {
		if _, ok := answers[id]; !ok {
			return answers, false
		}
	}
	return answers, true
}

// ListQuery selects a page of the cluster's agents.
type ListQuery struct {
	// Group and Node, when not empty, keep the members of that group, the
	// agents of that node.
	Group, Node string
	// After is the id the page starts after; empty starts at the first.
	After string
	// Limit is the most agents in the page.
	Limit int
}

// List returns a page of the cluster's agents in id order, and whether
// more follow. Nodes that do not answer within 2 s, or all other nodes
// while the cluster cannot be reached, are left out.
func (n *Node) List(ctx context.Context, lq ListQuery) (items []sockets.Info, more bool) {
	if lq.Node == n.id {
		return n.socks.List(lq.Group, lq.After, lq.Limit)
	}
	q := request{op: opList, group: lq.Group, after: lq.After, limit: lq.Limit}
	if lq.Node != "" {
		res, err := n.ask(ctx, lq.Node, q.append(nil))
		if err != nil {
			return nil, false
		}
		return res.agents, res.more
	}
	items, more = n.socks.List(lq.Group, lq.After, lq.Limit)
	answers, _ := n.survey(ctx, &q)
	for _, res := range answers {
		items = append(items, res.agents...)
		more = more || res.more
	}
	slices.SortFunc(items, func(a, b sockets.Info) int { return strings.Compare(a.ID, b.ID) })
	if len(items) > lq.Limit {
		items, more = items[:lq.Limit], true
	}
	return items, more
}

// Nodes lists the cluster's live nodes in id order, as their last
// heartbeats tell (this node's agents are counted now): ErrUnavailable
// when the cluster cannot be reached.
func (n *Node) Nodes(ctx context.Context) ([]pubsub.NodeInfo, error) {
	live, _, err := n.broker.Nodes(ctx)
	if err != nil {
		return nil, errors.Join(ErrUnavailable, err)
	}
	for i := range live {
		if live[i].ID == n.id {
			live[i].Agents = n.socks.Len()
		}
	}
	return live, nil
}
