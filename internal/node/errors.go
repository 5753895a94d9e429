package node

import (
	"errors"

	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// Errors the Node's methods return, wherever in the cluster the agent is;
// callers branch on them with errors.Is (codec.ErrNotJSON and
// codec.ErrMalformed too, for data a client's codec cannot carry).
var (
	// ErrAgentNotFound means no agent with that id is connected anywhere
	// in the cluster.
	ErrAgentNotFound = sockets.ErrAgentNotFound
	// ErrAgentGone means the agent left, or its node died, before the
	// operation completed.
	ErrAgentGone = sockets.ErrAgentGone
	// ErrQueueFull means the agent's send queue was full: it is being
	// closed as a slow consumer.
	ErrQueueFull = sockets.ErrQueueFull
	// ErrMessageTooBig means the encoded message exceeds the agent's
	// frame limit.
	ErrMessageTooBig = sockets.ErrMessageTooBig
	// ErrTimeout means the call's deadline passed before the client
	// replied.
	ErrTimeout = sockets.ErrTimeout
	// ErrBadReply means the client's reply data has no JSON form.
	ErrBadReply = sockets.ErrBadReply
	// ErrTooManyCalls means --max-pending-calls calls already wait for the
	// agent's replies; the call was not sent.
	ErrTooManyCalls = sockets.ErrTooManyCalls
	// ErrTooManyGroups means the agent is in --max-groups groups already.
	ErrTooManyGroups = sockets.ErrTooManyGroups
	// ErrShuttingDown means the node (this one, or the agent's) is
	// draining and takes no new work.
	ErrShuttingDown = sockets.ErrShuttingDown
	// ErrUnavailable means the rest of the cluster cannot be reached
	// (Redis is down); local agents keep working.
	ErrUnavailable = errors.New("cluster unreachable")
	// ErrOverloaded means the node has too many broadcasts and group
	// pushes in flight: this one was not sent.
	ErrOverloaded = errors.New("too many broadcasts in flight")
)

// ReplyError is returned by Call when the client answered with a non-zero
// code.
type ReplyError = sockets.ReplyError
