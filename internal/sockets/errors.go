package sockets

import (
	"errors"
	"fmt"
)

// Errors returned by the Server's methods; callers branch on them with
// errors.Is.
var (
	// ErrAgentNotFound means no agent with that id is connected here.
	ErrAgentNotFound = errors.New("agent not found")
	// ErrAgentGone means the agent left, or is being closed, before the
	// operation completed.
	ErrAgentGone = errors.New("agent gone")
	// ErrQueueFull means the agent's send queue was full: the agent is
	// being closed as a slow consumer and the message was not queued.
	ErrQueueFull = errors.New("agent send queue full")
	// ErrMessageTooBig means the encoded message exceeds the frame limit
	// of the agent's connection (--max-message-bytes, or 65535 bytes on
	// TCP with a 2-byte length prefix).
	ErrMessageTooBig = errors.New("message too big for the agent's connection")
	// ErrTimeout means a call's context expired before the client replied.
	ErrTimeout = errors.New("call timed out")
	// ErrBadReply means the client's reply carried data that cannot be
	// passed on as JSON (a msgpack NaN, say).
	ErrBadReply = errors.New("the client's reply data has no JSON form")
	// ErrShuttingDown means the server no longer takes work.
	ErrShuttingDown = errors.New("server shutting down")
	// ErrTooManyCalls means --max-pending-calls calls already wait for
	// the agent's replies; the call was not sent.
	ErrTooManyCalls = errors.New("too many calls waiting for the agent's replies")
	// ErrTooManyGroups means the agent is in --max-groups groups already.
	ErrTooManyGroups = errors.New("the agent is in too many groups")
)

// ReplyError is returned by Call when the client answered with a non-zero
// code.
type ReplyError struct {
	Code int32
	Msg  string
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("client replied with error %d: %s", e.Code, e.Msg)
}

// Reasons given to a client in Kicked and carried by agent.disconnected.
const (
	ReasonKicked           = "kicked"
	ReasonReplaced         = "replaced"
	ReasonKeepaliveTimeout = "keepalive timeout"
	ReasonSlowConsumer     = "slow consumer"
	ReasonShutdown         = "shutdown"
	// ReasonTokenExpired closes an agent when the exp of the token it
	// connected with passes; the client reconnects with a fresh token.
	ReasonTokenExpired = "token expired"
	// ReasonRateLimited closes an agent that keeps sending faster than
	// --rate-limit allows.
	ReasonRateLimited = "rate limited"
	// ReasonTooBig closes a TCP agent whose frame prefix exceeds the limit.
	ReasonTooBig = "message too big"
	// ReasonNotHotpot closes a TCP connection that sent an HTTP request
	// instead of hotpot frames.
	ReasonNotHotpot = "not hotpot framing"
	// ReasonClientClosed is the disconnect reason when the client closed
	// the connection or it broke.
	ReasonClientClosed = "closed by client"
)

// countKick counts a close the node decided on. Reasons a web service
// chose count as "kicked", so the metric keeps a bounded set of labels.
func (s *Server) countKick(reason string) {
	switch reason {
	case ReasonReplaced, ReasonKeepaliveTimeout, ReasonSlowConsumer, ReasonShutdown, ReasonTooBig, ReasonNotHotpot, ReasonTokenExpired, ReasonRateLimited:
	default:
		reason = ReasonKicked
	}
	s.metrics.Kicks.WithLabelValues(reason).Inc()
}
