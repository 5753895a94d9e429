// Package pubsub is a node's seam to the rest of its cluster: a bus that
// carries requests between nodes, a directory of which node owns which
// agent and which nodes are alive, and the cluster's ordered event
// stream.
//
// A Broker has two implementations that pass one conformance suite:
// Memory, the embedded default (one node alone, or several nodes of one
// process sharing a MemoryHub), and Redis, which joins the nodes of a
// cluster through one Redis server or a Redis Cluster. A Broker serves
// one node.
package pubsub

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hotpot-rt/hotpot/internal/events"
)

// Errors the Broker's methods return; callers branch on them.
var (
	// ErrUnavailable means the cluster cannot be reached (Redis is down or
	// the bus is not subscribed); the operation may not have happened.
	ErrUnavailable = errors.New("cluster unreachable")
	// ErrNodeGone means the node a request was for is not listening, or
	// stopped listening before it answered.
	ErrNodeGone = errors.New("node gone")
	// ErrClosed means the Broker was closed.
	ErrClosed = errors.New("broker closed")
)

// Handler answers a request or survey that another node sent this one.
// from is the sender's node id. Each message is handled on a goroutine of
// its own, which ends with ctx when the Broker closes. A survey's or
// request's answer is the returned bytes, which then belong to the
// Broker.
type Handler func(ctx context.Context, from string, msg []byte) []byte

// Broker is the whole of a node's view of its cluster.
type Broker interface {
	Bus
	Directory
	Stream
	// Node returns the id of the node this Broker serves.
	Node() string
	// Ready reports whether the cluster is reachable right now: nil, or
	// an error wrapping ErrUnavailable that says why not.
	Ready(ctx context.Context) error
	// Close stops handling messages, fails requests in flight with
	// ErrClosed, and waits for the handlers it started.
	Close() error
}

// Bus carries messages between nodes. It may read the msg given to
// Request or Survey after they return (a message whose caller gave up
// may still be on its way), so the caller must not modify it.
type Bus interface {
	// Serve starts handing every request and survey for this node to h.
	// It returns once it has started; while the cluster is unreachable it
	// keeps trying in the background. It must be called once, before
	// Request or Survey.
	Serve(h Handler)
	// Request sends msg to node's own channel and waits for its answer
	// until ctx ends (ctx.Err() then) or gone is closed (ErrNodeGone
	// then): gone is the caller's own word that node died, nil when it
	// has none. It fails with ErrNodeGone when no node of that id
	// listens, and ErrUnavailable when the cluster cannot be reached or
	// the bus lost it while waiting.
	Request(ctx context.Context, node string, msg []byte, gone <-chan struct{}) ([]byte, error)
	// Survey sends msg to every other node in one publish and gathers
	// their answers by node id until each node of expect has answered or
	// ctx ends, whichever comes first; then it returns what it has, with
	// a nil error. It fails with ErrUnavailable when the publish did not
	// go out.
	Survey(ctx context.Context, msg []byte, expect []string) (map[string][]byte, error)
}

// Owner says which session of which node holds an agent id. The zero
// Owner means no one.
type Owner struct {
	Node string
	// Session tells apart the successive sessions of one id on one node.
	Session uint64
}

// IsZero reports whether o is no one.
func (o Owner) IsZero() bool { return o.Node == "" }

// ownerSeparator stands between node and session in an Owner's stored form.
const ownerSeparator = "#"

// String is the stored form, "node#session".
func (o Owner) String() string {
	return o.Node + ownerSeparator + strconv.FormatUint(o.Session, 10)
}

// parseOwner reads the stored form; anything else is no one.
func parseOwner(s string) Owner {
	i := strings.LastIndex(s, ownerSeparator)
	if i < 0 {
		return Owner{}
	}
	session, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return Owner{}
	}
	return Owner{Node: s[:i], Session: session}
}

// NodeInfo describes a node, as its heartbeat tells it.
type NodeInfo struct {
	ID            string    `json:"id"`
	Address       string    `json:"address"`
	Agents        int       `json:"agents"`
	StartedAt     time.Time `json:"started_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

// Directory maps agent ids to their owners and keeps the list of live
// nodes.
type Directory interface {
	// Register makes owner the holder of agent and returns who held it
	// before (the zero Owner when no one did).
	Register(ctx context.Context, agent string, owner Owner) (previous Owner, err error)
	// Unregister removes agent if owner still holds it.
	Unregister(ctx context.Context, agent string, owner Owner) error
	// Lookup returns who holds agent; the zero Owner when no one does.
	Lookup(ctx context.Context, agent string) (Owner, error)
	// Restore registers agents held by this node again after the
	// directory forgot them (Redis restarted empty, or the node was taken
	// for dead), leaving alone any id another owner took meanwhile.
	Restore(ctx context.Context, agents map[string]Owner) error
	// Heartbeat tells the cluster this node is alive, with info, for ttl.
	// known is false when the directory had forgotten the node (its first
	// heartbeat, or after Redis lost its data): the node then Restores
	// its agents.
	Heartbeat(ctx context.Context, info NodeInfo, ttl time.Duration) (known bool, err error)
	// Nodes lists the live nodes in id order, and the ids of nodes whose
	// heartbeat expired without a Forget.
	Nodes(ctx context.Context) (live []NodeInfo, dead []string, err error)
	// Forget removes node, its heartbeat and every agent it still holds.
	// Forgetting a node twice, or from two nodes at once, is harmless.
	Forget(ctx context.Context, node string) error
}

// Entry is one event of the cluster's stream with its id.
type Entry struct {
	ID    events.ID
	Event events.Event
}

// Stream is the cluster's ordered, bounded log of agent events.
type Stream interface {
	// Append adds evs, in order, each with an id greater than every id
	// before it. The stream keeps about as many as it was made to keep.
	Append(ctx context.Context, evs []events.Event) error
	// Read returns up to count entries that follow after, in order,
	// waiting until there is at least one or ctx ends (nil, ctx.Err()).
	// A zero after reads from the oldest entry kept.
	Read(ctx context.Context, after events.ID, count int) ([]Entry, error)
	// Newest returns up to count of the newest entries, in order.
	Newest(ctx context.Context, count int) ([]Entry, error)
}
