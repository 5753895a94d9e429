package sockets

import (
	"time"
)

// closeGrace is how long a server-side close may take (Kicked, then the
// close handshake) before the connection is cut.
const closeGrace = 2 * time.Second

// send queues one encoded frame for the client. It never blocks: a full
// queue closes the agent as a slow consumer and returns ErrQueueFull; an
// agent being closed returns ErrAgentGone; a frame over the agent's limit
// returns ErrMessageTooBig. The frame must not be modified afterwards; the
// same frame may be queued to many agents.
func (a *agent) send(frame []byte) error {
	if len(frame) > a.maxFrame {
		return ErrMessageTooBig
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closeReason != "" {
		return ErrAgentGone
	}
	if len(a.queue) >= a.srv.cfg.SendQueue {
		a.srv.log.Info("closing slow consumer", "agent", a.id, "queued", len(a.queue))
		a.queue = nil // they would not get through; Kicked goes first
		a.closeLocked(ReasonSlowConsumer)
		return ErrQueueFull
	}
	a.enqueueLocked(frame)
	return nil
}

// close queues Kicked with reason and closes the connection once it is
// written. Only the first close of an agent counts.
func (a *agent) close(reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closeLocked(reason)
}

// closeLocked is close with a.mu held.
func (a *agent) closeLocked(reason string) {
	if a.closeReason != "" {
		return
	}
	a.closeReason = reason
	if a.gone {
		return
	}
	a.srv.countKick(reason)
	if frame, err := encodeServerMessage(a.codec, "Kicked", kickedData(reason)); err == nil {
		a.enqueueLocked(frame)
	}
	a.closeTimer = time.AfterFunc(closeGrace, a.link.abort)
}

// enqueueLocked appends a frame and makes sure a writer runs.
func (a *agent) enqueueLocked(frame []byte) {
	a.queue = append(a.queue, frame)
	if !a.writing {
		a.writing = true
		a.writer.Add(1)
		go a.writeLoop()
	}
}

// writeLoop writes queued frames until the queue is empty, taking all that
// waits in one batch each time, then exits; if the agent is being closed it
// closes the connection first.
func (a *agent) writeLoop() {
	defer a.writer.Done()
	for {
		a.mu.Lock()
		batch := a.queue
		a.queue = nil
		if len(batch) == 0 {
			a.writing = false
			reason := a.closeReason
			gone := a.gone
			a.mu.Unlock()
			if reason != "" && !gone {
				a.link.close(reason)
			}
			return
		}
		a.mu.Unlock()

		a.stats.framesOut.Add(float64(len(batch)))
		if err := a.link.writeFrames(batch, writeTimeout); err != nil {
			a.srv.log.Debug("write failed", "agent", a.id, "err", err)
			a.link.abort()
			a.mu.Lock()
			a.queue = nil
			a.writing = false
			a.mu.Unlock()
			return
		}
	}
}
