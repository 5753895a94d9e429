package sockets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// callResult is how a pending call learns its outcome.
type callResult struct {
	reply codec.Envelope
	gone  bool // the agent left before replying
}

// Call sends the agent a message of type typ with a fresh call id and
// waits for the client's Reply with that id. It returns the reply's data;
// a *ReplyError when the client answered with a non-zero code;
// ErrAgentNotFound (also for an agent already being closed, whose id may
// live on in a newer session elsewhere), ErrAgentGone (left mid-call),
// ErrTooManyCalls (--max-pending-calls wait for its replies already), ErrQueueFull,
// ErrMessageTooBig, codec.ErrNotJSON or codec.ErrMalformed (data cannot
// be given to this client's codec), ErrBadReply, ErrShuttingDown (the node is draining), or ErrTimeout
// when ctx's deadline passes first. Safe for concurrent use.
func (s *Server) Call(ctx context.Context, agentID, typ string, data codec.Payload) (codec.Payload, error) {
	a := s.lookup(agentID)
	if a == nil {
		return codec.Payload{}, ErrAgentNotFound
	}
	return a.call(ctx, typ, data)
}

// Push sends the agent one event of type typ. It returns once the event is
// queued: ErrAgentNotFound (also for an agent already being closed),
// ErrQueueFull (the agent is being closed as a slow consumer),
// ErrMessageTooBig or codec.ErrNotJSON otherwise.
func (s *Server) Push(agentID, typ string, data codec.Payload) error {
	a := s.lookup(agentID)
	if a == nil {
		return ErrAgentNotFound
	}
	native, err := a.codec.Data(data)
	if err != nil {
		return err
	}
	frame, err := a.codec.Encode(codec.Envelope{Type: typ, Data: native})
	if err != nil {
		return err
	}
	if err := a.send(frame); !errors.Is(err, ErrAgentGone) {
		return err
	}
	return ErrAgentNotFound
}

// Kick closes the agent, telling it reason in Kicked.
func (s *Server) Kick(agentID, reason string) error {
	return s.KickSession(agentID, 0, reason)
}

// KickSession closes the agent if it is the given session (any session
// when session is 0), telling it reason in Kicked.
func (s *Server) KickSession(agentID string, session uint64, reason string) error {
	a := s.lookup(agentID)
	if a == nil || session != 0 && a.session != session {
		return ErrAgentNotFound
	}
	a.close(reason)
	return nil
}

// FanOut is one event encoded once for every codec an agent may use, as
// Broadcast and PushGroup deliver it: the same bytes go to every agent of
// a codec. Its zero value delivers nothing.
type FanOut struct {
	// frames are the event's frames by codec; a codec that cannot carry
	// the event has none.
	frames map[codec.Codec][]byte
}

// codecs are every codec an agent may use.
var codecs = []codec.Codec{codec.JSON, codec.MsgPack, codec.Proto}

// EncodeFanOut encodes an event for Broadcast and PushGroup. The FanOut
// holds a frame for every codec that can carry the event; err reports the
// first codec that cannot (codec.ErrNotJSON, codec.ErrMalformed) or a
// frame over --max-message-bytes (ErrMessageTooBig), as a push to such a
// client would fail, so that a caller may refuse before sending anything.
func (s *Server) EncodeFanOut(typ string, data codec.Payload) (FanOut, error) {
	f := FanOut{frames: make(map[codec.Codec][]byte, len(codecs))}
	var first error
	for _, c := range codecs {
		native, err := c.Data(data)
		var frame []byte
		if err == nil {
			frame, err = c.Encode(codec.Envelope{Type: typ, Data: native})
		}
		if err == nil && len(frame) > s.cfg.MaxMessageBytes {
			err = ErrMessageTooBig
		}
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		f.frames[c] = frame
	}
	return f, first
}

// Broadcast sends f to every agent of this node and returns how many had
// it queued. Broadcasts that come while one is being delivered are
// delivered together (see broadcaster).
func (s *Server) Broadcast(f FanOut) int {
	return s.broadcasts.deliver(f)
}

func (a *agent) call(ctx context.Context, typ string, data codec.Payload) (codec.Payload, error) {
	native, err := a.codec.Data(data)
	if err != nil {
		return codec.Payload{}, err
	}
	id := strconv.FormatUint(a.srv.callSeq.Add(1), 10)
	frame, err := a.codec.Encode(codec.Envelope{Type: typ, ID: id, Data: native})
	if err != nil {
		return codec.Payload{}, err
	}
	if a.srv.draining() {
		return codec.Payload{}, ErrShuttingDown
	}
	a.srv.pendingCalls.Add(1)
	defer a.srv.pendingCalls.Add(-1)
	done := make(chan callResult, 1)
	a.mu.Lock()
	if a.closeReason != "" {
		a.mu.Unlock()
		return codec.Payload{}, ErrAgentNotFound
	}
	if len(a.calls) >= a.srv.cfg.MaxPendingCalls {
		a.mu.Unlock()
		return codec.Payload{}, ErrTooManyCalls
	}
	if a.calls == nil {
		a.calls = make(map[string]chan callResult)
	}
	a.calls[id] = done
	a.mu.Unlock()

	if err := a.send(frame); err != nil {
		a.forgetCall(id)
		return codec.Payload{}, err
	}
	select {
	case r := <-done:
		if r.gone {
			return codec.Payload{}, ErrAgentGone
		}
		if r.reply.Code != 0 {
			return codec.Payload{}, &ReplyError{Code: r.reply.Code, Msg: r.reply.Msg}
		}
		reply, err := a.codec.Payload(r.reply.Data)
		if err != nil {
			return codec.Payload{}, fmt.Errorf("%w: %v", ErrBadReply, err)
		}
		return reply, nil
	case <-a.srv.drained:
		a.forgetCall(id)
		return codec.Payload{}, ErrShuttingDown
	case <-ctx.Done():
		a.forgetCall(id)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return codec.Payload{}, ErrTimeout
		}
		return codec.Payload{}, ctx.Err()
	}
}

func (a *agent) forgetCall(id string) {
	a.mu.Lock()
	delete(a.calls, id)
	a.mu.Unlock()
}

// completeCall hands a Reply to the call waiting for it; a reply nobody
// waits for (late, unknown or without id) is dropped and counted.
func (a *agent) completeCall(reply codec.Envelope) {
	a.mu.Lock()
	done, ok := a.calls[reply.ID]
	delete(a.calls, reply.ID)
	a.mu.Unlock()
	if !ok {
		a.srv.metrics.LateReplies.Inc()
		a.srv.log.Debug("dropping reply nobody waits for", "agent", a.id, "id", reply.ID)
		return
	}
	done <- callResult{reply: reply}
}
