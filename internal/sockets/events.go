package sockets

import (
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// Event types published by agents.
const (
	EventConnected    = "agent.connected"
	EventDisconnected = "agent.disconnected"
	EventMessage      = "agent.message"
)

// Event is something an agent did, as web services follow it.
type Event struct {
	// Type is EventConnected, EventDisconnected or EventMessage.
	Type string
	// Agent is the agent's id; Node the id of the node that owns it.
	Agent, Node string
	// Time is when the node saw it happen.
	Time time.Time
	// Reason says why an agent disconnected (EventDisconnected only).
	Reason string
	// MessageType, MessageID and Data describe an EventMessage.
	MessageType, MessageID string
	Data                   codec.Payload
}

// EventSink receives every event of every local agent, in order per agent.
// It is called from agent goroutines, sometimes under an agent's lock, and
// must not block.
type EventSink func(Event)
