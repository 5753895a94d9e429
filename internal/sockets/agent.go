package sockets

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Transports an agent can be connected through.
const (
	TransportWS  = "ws"
	TransportTCP = "tcp"
)

// link is one agent's connection, WebSocket or TCP.
type link interface {
	// await blocks until the client has sent something, or its
	// connection has ended, and reads nothing. It is called by the
	// agent's read loop only, between frames.
	await()
	// readFrame blocks for the next frame, which the caller must release
	// once handled. It is called by the agent's read loop only. errTooBig
	// reports an oversize frame; errEmptyFrame a frame the loop answers
	// with an Error and keeps reading after; any other error ends the
	// agent.
	readFrame() (*frameBuffer, error)
	// writeFrames writes frames in order, in as few writes as it can, and
	// gives up after timeout. It is called by the agent's writer only.
	writeFrames(frames [][]byte, timeout time.Duration) error
	// canTry reports whether tryFrames works on this connection.
	canTry() bool
	// tryFrames writes frames without blocking, keeping what the socket
	// does not take for flush, and reports how far it got. It does not
	// wait for a write in progress (a control frame the read loop is
	// writing to a client that does not read): it reports tryBusy, and
	// keeps nothing. It is called by the agent's writer only.
	tryFrames(frames [][]byte) tryResult
	// flush writes what tryFrames kept, giving up after timeout. It is
	// called by the agent's writer only.
	flush(timeout time.Duration) error
	// close ends the connection once the last frame has been written, with
	// the WebSocket close code for reason. Called by the writer only.
	close(reason string)
	// abort closes the connection at once; safe from any goroutine, any
	// number of times.
	abort()
}

// writeTimeout bounds one write of queued frames to a client.
const writeTimeout = 10 * time.Second

// agent is one connected client session. Its read loop (readLoop) owns its
// lifecycle: it reads and handles frames and, when the connection ends,
// fails pending calls and unregisters it. One writer at a time sends
// frames to the client: a sender that finds none writes its frame itself
// without blocking (send); otherwise frames wait in a bounded queue drained
// by a writer goroutine that runs only while there is something to write.
type agent struct {
	srv *Server
	id  string
	// session tells this agent from other sessions of its id; set by
	// register.
	session     uint64
	transport   string
	codec       codec.Codec
	remoteAddr  string
	connectedAt time.Time
	// expires is the exp of the agent's token, when the node closes it
	// with reason token expired; zero without a token.
	expires time.Time
	// stats counts the frames of the agent's transport.
	stats *transportMetrics
	// groups is the agent's list of groups, replaced (never changed in
	// place) under srv.mu; nil means none.
	groups atomic.Pointer[[]string]
	// fixed are the agent codec's Ping and Pong.
	fixed *fixedFrames
	// maxFrame bounds frames both ways: --max-message-bytes, or less
	// where the TCP length prefix cannot say more.
	maxFrame int
	link     link

	// lastReceive is the Unix-nano time of the last received frame (or of
	// Welcome); written by the read loop, read by the keepalive monitor.
	lastReceive atomic.Int64
	// caughtUp is the Unix-nano time a writer goroutine last emptied the
	// queue: until then the client may not have had the node's Ping.
	caughtUp atomic.Int64

	// writer counts the running writer goroutine; the read loop waits for it.
	writer sync.WaitGroup

	// expiry closes the agent when its token expires; nil without a token.
	// Set and stopped by the read loop.
	expiry *time.Timer
	// bucket counts the frames the agent may send; owned by the read loop.
	bucket bucket

	mu sync.Mutex // guards the fields below
	// queue holds encoded frames waiting for the writer.
	queue frameQueue
	// writing is true while a writer runs: the writer goroutine, or a
	// sender writing without blocking (see send).
	writing bool
	// closeReason is set once the node has decided to close the agent; from
	// then on nothing more is queued and its messages are not published.
	closeReason string
	// closeTimer aborts the connection if a close does not complete in time.
	closeTimer *time.Timer
	// gone is set when the read loop has ended; calls fail at once.
	gone bool
	// announced is set once agent.disconnected has been published.
	announced bool
	// calls holds the pending calls by call id; allocated on first call.
	calls map[string]chan callResult
}

// Keepalive target methods.

// LastReceive returns, as Unix nanoseconds, when the agent last sent a
// frame, or when the node last caught up with a backlog of frames for it,
// whichever is later: time the client could not have answered because
// the node was behind does not count against it.
func (a *agent) LastReceive() int64 { return max(a.lastReceive.Load(), a.caughtUp.Load()) }

// Ping sends a Ping to an agent idle longer than the keepalive interval.
func (a *agent) Ping() { a.sendControl(a.fixed.ping) }

// Expire closes an agent idle longer than the keepalive limit, unless the
// node is still writing it a backlog (which may hold its Ping): it is then
// watched again, and its time runs from when the backlog is written.
func (a *agent) Expire(lastReceive time.Time) {
	a.mu.Lock()
	if a.writing && !a.gone && a.closeReason == "" {
		a.srv.keepalive.Add(a)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.srv.log.Info("closing idle agent", "agent", a.id, "last_receive", lastReceive)
	a.close(ReasonKeepaliveTimeout)
}

// expireToken closes the agent once its token has expired. It runs on the
// expiry timer's goroutine.
func (a *agent) expireToken() {
	a.srv.log.Info("closing agent: token expired", "agent", a.id, "exp", a.expires)
	a.close(ReasonTokenExpired)
}

// run starts the agent once it is registered, and its read loop on a
// goroutine of its own: one with the smallest stack, which the start's
// deeper calls have not grown (see readLoop).
func (a *agent) run() {
	a.begin()
	a.srv.loops.Go(a.readLoop)
}

// freshAfter is the silence after which the read loop, woken by the
// client, moves to a new goroutine once the frame is handled.
const freshAfter = time.Second

// readLoop reads and handles frames until the connection ends, and the
// agent is cleaned up. It waits for the client in a shallow call, in
// which a goroutine's smallest stack (2 KiB) is enough; reading and
// handling a frame need more. The runtime halves a waiting goroutine's
// stack only when under a quarter of it, plus an 800-byte guard, is in
// use, which the ~1 KiB of that wait never is: a grown stack stays. So
// when the client wakes the loop after a silence (a keepalive Pong, say),
// a new goroutine takes over the loop once the frame is handled, and an
// idle agent costs 2 KiB of stack instead of 4 or more
// (TestIdleAgentStackShrinks).
func (a *agent) readLoop() {
	for {
		before := a.lastReceive.Load()
		a.link.await()
		if !a.readOne() {
			return
		}
		if a.lastReceive.Load()-before > int64(freshAfter) {
			a.srv.loops.Go(a.readLoop)
			return
		}
	}
}

// begin starts the agent's session: its rate limit, keepalive, the
// agent.connected event, Welcome and its token's expiry.
func (a *agent) begin() {
	start := time.Now()
	a.lastReceive.Store(start.UnixNano())
	if kept, ok := a.srv.spent.take(a.id, start.Sub(a.srv.epoch)); ok {
		a.bucket = kept // reconnecting does not refill it
	} else {
		a.bucket = a.srv.rateLimit.fill(start.Sub(a.srv.epoch))
	}
	a.srv.keepalive.Add(a)
	// agent.connected before Welcome, so that it precedes every later
	// event of this id, a replacement's included.
	a.publish(events.Event{Type: events.Connected})
	a.sendWelcome()
	if !a.expires.IsZero() {
		// One runtime timer per agent with a token: no goroutine and no
		// work until it fires, exactly at exp (the keepalive sweep would
		// be up to --keepalive-interval late). finish stops it.
		a.expiry = time.AfterFunc(time.Until(a.expires), a.expireToken)
	}
}

// readOne reads and handles one frame, and reports whether the loop goes
// on; when it does not, the agent is finished.
func (a *agent) readOne() bool {
	a.awaitRoom()
	fb, err := a.link.readFrame()
	switch {
	case errors.Is(err, errTooBig):
		a.srv.log.Info("closing agent: frame too big", "agent", a.id, "err", err)
		a.close(ReasonTooBig)
		return true
	case errors.Is(err, errHTTPOnTCP):
		a.srv.log.Info("closing agent: it speaks HTTP to the TCP port", "agent", a.id, "remote", a.remoteAddr)
		a.close(ReasonNotHotpot)
		return true // keep reading until the writer has sent Kicked and closed
	case err != nil && !errors.Is(err, errEmptyFrame):
		if errors.Is(err, os.ErrDeadlineExceeded) { // writing a WebSocket Pong
			a.recordSlowConsumer()
		}
		a.finish()
		return false
	}
	if fb == nil { // an empty TCP frame
		if a.received() {
			a.sendError(400, "empty frame")
		}
		return true
	}
	a.stats.framesIn.Inc()
	if a.received() {
		a.handle(fb.b)
	}
	fb.release()
	return true
}

// received counts a frame the client sent, empty, undecodable or a
// WebSocket control frame included: as activity, which keepalive goes
// by, and against the rate limit. It reports whether the frame may be
// handled; one over the limit has been answered with Error 429 (see
// withinRateLimit). Called by the read loop only.
func (a *agent) received() bool {
	now := time.Now()
	a.lastReceive.Store(now.UnixNano())
	return a.withinRateLimit(now)
}

// handle acts on one frame from the client. The frame is only valid
// during the call: what outlives it is copied.
func (a *agent) handle(frame []byte) {
	env, err := a.codec.Decode(frame)
	if err != nil {
		a.sendError(400, err.Error())
		return
	}
	switch env.Type {
	case "Ping":
		a.sendControl(a.fixed.pong)
	case "Pong":
	case "Echo":
		a.send(bytes.Clone(frame))
	case "Reply":
		env.Data = bytes.Clone(env.Data)
		a.completeCall(env)
	default:
		data, err := a.codec.Payload(bytes.Clone(env.Data))
		if err != nil {
			a.sendError(400, err.Error())
			return
		}
		a.mu.Lock()
		if a.closeReason == "" {
			a.publish(events.Event{Type: events.Message, MessageType: env.Type, MessageID: env.ID, Data: data})
		}
		a.mu.Unlock()
	}
}

// finish cleans up after the connection has ended: it stops the writer,
// fails pending calls, unregisters the agent and announces its departure.
func (a *agent) finish() {
	a.link.abort()
	a.srv.spent.keep(a.id, a.bucket, time.Since(a.srv.epoch))
	if a.expiry != nil {
		a.expiry.Stop()
	}
	a.srv.unregister(a)
	a.srv.unregistered(a.id, a.session)

	a.mu.Lock()
	a.gone = true
	if a.closeReason == "" {
		a.closeReason = ReasonClientClosed
	}
	if a.closeTimer != nil {
		a.closeTimer.Stop()
	}
	for id, ch := range a.calls {
		ch <- callResult{gone: true}
		delete(a.calls, id)
	}
	a.queue.clear()
	a.mu.Unlock()
	// After gone is set, so that an Expire that watches the agent again
	// (under a.mu) cannot come after this.
	a.srv.keepalive.Remove(a)

	a.writer.Wait()
	a.announceDisconnect()
	a.srv.conns.Add(-1)
}

// announceDisconnect publishes agent.disconnected once, with the reason the
// agent was closed for.
func (a *agent) announceDisconnect() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.announced {
		return
	}
	a.announced = true
	a.publish(events.Event{Type: events.Disconnected, Reason: a.closeReason})
}

// publish hands an event of this agent to the server's sink.
func (a *agent) publish(e events.Event) {
	e.Agent = a.id
	e.Node = a.srv.cfg.NodeID
	e.Groups = a.groupList()
	e.Time = time.Now()
	a.srv.sink(e)
}

// transportMetrics are the collectors of one transport, resolved once.
type transportMetrics struct {
	framesIn, framesOut, framesRateLimited prometheus.Counter
}

func newTransportMetrics(m *metrics.Metrics, transport string) *transportMetrics {
	return &transportMetrics{
		framesIn:          m.FramesIn.WithLabelValues(transport),
		framesOut:         m.FramesOut.WithLabelValues(transport),
		framesRateLimited: m.FramesRateLimited.WithLabelValues(transport),
	}
}

// sendError queues an Error frame for bad input.
func (a *agent) sendError(code int32, msg string) {
	frame, err := a.codec.Encode(codec.Envelope{Type: "Error", Code: code, Msg: msg})
	if err == nil {
		a.send(frame)
	}
}
