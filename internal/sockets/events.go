package sockets

import "github.com/hotpot-rt/hotpot/internal/events"

// EventSink receives every event of every local agent, in order per agent.
// It is called from agent goroutines, sometimes under an agent's lock, and
// must not block.
type EventSink func(events.Event)
