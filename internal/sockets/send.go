package sockets

import (
	"errors"
	"os"
	"slices"
	"time"
)

// closeGrace is how long a server-side close may take (Kicked, then the
// close handshake) before the connection is cut.
const closeGrace = 2 * time.Second

// send sends one encoded frame to the client. It never blocks: when no
// writer runs it writes the frame itself, without blocking, and hands
// what the socket did not take to a writer goroutine; otherwise it queues
// the frame. A full queue closes the agent as a slow consumer and returns
// ErrQueueFull; an agent being closed returns ErrAgentGone; a frame over
// the agent's limit returns ErrMessageTooBig. The frame must not be
// modified afterwards; the same frame may be sent to many agents.
func (a *agent) send(frame []byte) error {
	batch := [1][]byte{frame}
	return a.sendFrames(batch[:], false)
}

// sendControl sends a Ping or a Pong as send does, but ahead of every
// frame still queued: keepalive never waits behind data.
func (a *agent) sendControl(frame []byte) error {
	batch := [1][]byte{frame}
	return a.sendFrames(batch[:], true)
}

// sendFrames sends frames, in order, as send sends one: they are written
// together, in one write when the socket takes them, or queued together.
// The slice is not kept; the frames are.
func (a *agent) sendFrames(frames [][]byte, urgent bool) error {
	size := 0
	for _, frame := range frames {
		if len(frame) > a.maxFrame {
			return ErrMessageTooBig
		}
		size += len(frame)
	}
	a.mu.Lock()
	switch {
	case a.closeReason != "":
		a.mu.Unlock()
		return ErrAgentGone
	case a.queue.len()+len(frames) > a.srv.cfg.SendQueue || a.queue.len() > 0 && a.queue.bytes+size > a.srv.cfg.SendQueueBytes:
		a.srv.log.Info("closing slow consumer", "agent", a.id, "queued", a.queue.len(), "queued_bytes", a.queue.bytes)
		a.queue.clear() // they would not get through; Kicked goes first
		a.closeLocked(ReasonSlowConsumer)
		a.mu.Unlock()
		return ErrQueueFull
	case a.writing || !a.link.canTry():
		a.enqueueLocked(frames, urgent)
		a.mu.Unlock()
		return nil
	}
	a.writing = true // this goroutine is the writer now
	a.writer.Add(1)
	a.mu.Unlock()
	a.writeNow(frames)
	return nil
}

// writeNow writes frames from the sending goroutine, which holds the
// writer role, without blocking; then it gives the role back, or hands it
// to a writer goroutine when bytes or frames are left to write. Most sends
// to an idle agent end here, with no goroutine started: a sweep pinging
// thousands of agents, a broadcast, a call.
func (a *agent) writeNow(frames [][]byte) {
	result := a.link.tryFrames(frames)
	a.mu.Lock()
	if result == tryBusy {
		// The writer goroutine may wait for the connection; this one must
		// not. The frames go first: frames queued meanwhile came later.
		a.queue.pushFront(frames...)
		a.mu.Unlock()
		go a.writeLoop()
		return
	}
	a.stats.framesOut.Add(float64(len(frames)))
	if result == tryDone && a.queue.len() == 0 && a.closeReason == "" {
		a.writing = false
		a.mu.Unlock()
		a.writer.Done()
		return
	}
	a.mu.Unlock()
	go a.writeLoop() // the writer role, and its count, pass on
}

// holdWelcome queues the agent's Welcome and takes the writer role
// before the agent can be found, so that every frame sent to it once it
// is registered — a call, a broadcast — queues behind its Welcome.
// sendWelcome starts the writer; dropWelcome gives the role back when the
// agent is not registered after all.
func (a *agent) holdWelcome() {
	frame, err := encodeServerMessage(a.codec, "Welcome", welcomeData(a.id, a.srv.cfg.NodeID,
		a.srv.cfg.KeepaliveInterval.Milliseconds(), a.srv.cfg.KeepaliveLimit.Milliseconds()))
	if err != nil {
		a.srv.log.Error("encoding Welcome", "agent", a.id, "err", err)
		return
	}
	a.mu.Lock()
	a.queue.push(frame)
	a.writing = true
	a.writer.Add(1)
	a.mu.Unlock()
}

// sendWelcome writes the held Welcome, and what queued behind it, on a
// writer goroutine.
func (a *agent) sendWelcome() {
	a.mu.Lock()
	held := a.writing // only holdWelcome can have taken the role yet
	a.mu.Unlock()
	if held {
		go a.writeLoop() // the writer role, and its count, pass on
	}
}

// dropWelcome forgets the held Welcome of an agent that was not
// registered.
func (a *agent) dropWelcome() {
	a.mu.Lock()
	held := a.writing
	a.queue.clear()
	a.writing = false
	a.mu.Unlock()
	if held {
		a.writer.Done()
	}
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
		a.enqueueLocked([][]byte{frame}, false)
	}
	a.closeTimer = time.AfterFunc(closeGrace, a.link.abort)
}

// enqueueLocked queues frames, urgent ones first, and makes sure a
// writer runs.
func (a *agent) enqueueLocked(frames [][]byte, urgent bool) {
	if urgent {
		a.queue.pushFront(frames...)
	} else {
		a.queue.push(frames...)
	}
	if !a.writing {
		a.writing = true
		a.writer.Add(1)
		go a.writeLoop()
	}
}

// writeLoop writes what a send left pending, then queued frames until
// the queue is empty, taking all that waits in one batch each time, then
// exits; if the agent is being closed it closes the connection first.
func (a *agent) writeLoop() {
	defer a.writer.Done()
	if err := a.link.flush(writeTimeout); err != nil {
		a.writeFailed(err)
		return
	}
	for {
		a.mu.Lock()
		batch := a.queue.take()
		if len(batch) == 0 {
			a.writing = false
			a.caughtUp.Store(time.Now().UnixNano())
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
			a.writeFailed(err)
			return
		}
	}
}

// writeFailed ends the writer after a failed write: the connection is cut
// and the read loop cleans up.
func (a *agent) writeFailed(err error) {
	a.srv.log.Debug("write failed", "agent", a.id, "err", err)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		a.recordSlowConsumer()
	}
	a.link.abort()
	a.mu.Lock()
	a.queue.clear()
	a.writing = false
	a.mu.Unlock()
}

// recordSlowConsumer gives slow consumer as the reason an agent is cut
// when a write to it timed out: its client has not read for writeTimeout,
// though no Kicked can reach it to say so. The caller cuts the
// connection. Only the first reason counts.
func (a *agent) recordSlowConsumer() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closeReason != "" || a.gone {
		return
	}
	a.srv.log.Info("closing slow consumer: a write timed out", "agent", a.id, "after", writeTimeout)
	a.closeReason = ReasonSlowConsumer
	a.srv.countKick(ReasonSlowConsumer)
}

// frameQueue is an agent's queue of encoded frames, with their bytes
// counted: --send-queue bounds the frames and --send-queue-bytes the
// bytes, so a client that stops reading cannot make the node hold
// --send-queue frames of the largest size.
type frameQueue struct {
	frames [][]byte // nil when empty
	bytes  int
	// shrunk, when not nil, is closed the next time the queue empties:
	// the read loop waits on it for room for its replies (awaitRoom).
	shrunk chan struct{}
}

func (q *frameQueue) len() int { return len(q.frames) }

// push queues frames last, in order.
func (q *frameQueue) push(frames ...[]byte) {
	q.frames = append(q.frames, frames...)
	for _, frame := range frames {
		q.bytes += len(frame)
	}
}

// pushFront queues frames first, in order.
func (q *frameQueue) pushFront(frames ...[]byte) {
	q.frames = slices.Insert(q.frames, 0, frames...)
	for _, frame := range frames {
		q.bytes += len(frame)
	}
}

// take returns every queued frame and empties the queue.
func (q *frameQueue) take() [][]byte {
	frames := q.frames
	q.clear()
	return frames
}

// clear empties the queue.
func (q *frameQueue) clear() {
	q.frames, q.bytes = nil, 0
	if q.shrunk != nil {
		close(q.shrunk)
		q.shrunk = nil
	}
}

// full reports whether the queue holds at least half of what --send-queue
// and --send-queue-bytes allow: no room left for an agent's replies to
// its own frames, which must leave the other half to the frames others
// send it (calls, pushes, broadcasts).
func (q *frameQueue) full(maxFrames, maxBytes int) bool {
	return q.len() >= (maxFrames+1)/2 || q.bytes >= maxBytes/2
}

// awaitRoom holds the read loop while the agent's queue is full (see
// frameQueue.full), until its writer has taken the queue: a client that
// sends frames faster than it reads their replies (pipelined Echoes,
// Pings) is slowed down by TCP instead of being closed as a slow consumer
// for the node's own backlog. The wait is bounded: the writer takes the
// queue, or fails, within writeTimeout.
func (a *agent) awaitRoom() {
	a.mu.Lock()
	for a.closeReason == "" && a.queue.full(a.srv.cfg.SendQueue, a.srv.cfg.SendQueueBytes) {
		if a.queue.shrunk == nil {
			a.queue.shrunk = make(chan struct{})
		}
		shrunk := a.queue.shrunk
		a.mu.Unlock()
		<-shrunk
		a.mu.Lock()
	}
	a.mu.Unlock()
}
