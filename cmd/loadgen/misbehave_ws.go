package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// The misbehaviours of clients that connect as agents, with a valid token,
// and then break the rules: on WebSocket, and on TCP where the rule
// applies there too.

// closeWait bounds how long a misbehaver waits for the node to close a
// connection it should close.
const closeWait = 15 * time.Second

// tcpSession is a misbehaver's authenticated TCP connection.
type tcpSession struct {
	*tcpAgent
}

// dialTCP opens an authenticated TCP connection for agent id, past its
// Welcome.
func (e *misbehaveEnv) dialTCP(ctx context.Context, id string) (tcpSession, error) {
	token, err := e.minter.token(id)
	if err != nil {
		return tcpSession{}, err
	}
	t, err := dialTCPAgent(ctx, e.tcpAddr, e.framing, token, e.proto.timeout)
	return tcpSession{t}, err
}

// watch reads the connection on a goroutine of its own, answering Pings,
// until it ends, ctx ends, or nothing arrives for closeWait; the tally
// comes on the channel returned. The caller must receive it.
func (s tcpSession) watch(ctx context.Context) <-chan frameTally {
	pong, _ := codec.JSON.Encode(codec.Envelope{Type: "Pong"})
	done := make(chan frameTally, 1)
	go func() {
		stop := context.AfterFunc(ctx, func() { s.conn.Close() })
		defer stop()
		done <- readFrames(ctx, s.conn, s.br, s.framing, func() { s.write(pong) })
	}()
	return done
}

// slowConsumer connects and never reads, while asking for Echoes of
// echoBytes at 80 a second (under the default rate limit): the node's
// writes to it back up until it is closed as a slow consumer, or its
// writes time out.
func (m *misbehaver) slowConsumer(ctx context.Context) {
	frame, err := echoFrame(codec.JSON, min(m.env.echoBytes, m.env.maxMessage))
	if err != nil {
		m.odd(ctx, "echo frame: %w", err)
		return
	}
	m.again(ctx, func(int) {
		ws, err := m.env.dialWS(ctx, m.id(), true)
		if err != nil {
			m.odd(ctx, "dial: %w", err)
			return
		}
		defer ws.CloseNow()
		tick := time.NewTicker(time.Second / 80)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				m.stats.saw(outOpenAtEnd, 1)
				return
			case <-tick.C:
			}
			if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
				if ctx.Err() == nil {
					m.stats.saw(outClosedUnread, 1)
				}
				return
			}
		}
	})
}

// flood sends messages at floodRate, in bursts every 10 ms, until the
// node closes the connection.
func (m *misbehaver) flood(ctx context.Context) {
	frame := []byte(`{"type":"Chatter","data":{"say":"spam"}}`)
	perTick := max(1, int(m.env.floodRate/100))
	m.again(ctx, func(int) {
		ws, err := m.env.dialWS(ctx, m.id(), false)
		if err != nil {
			m.odd(ctx, "dial: %w", err)
			return
		}
		done := watchWS(ctx, ws)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var t frameTally
	send:
		for {
			select {
			case t = <-done:
				break send
			case <-ctx.Done():
				ws.CloseNow()
				t = <-done
				break send
			case <-tick.C:
			}
			for range perTick {
				if ws.Write(ctx, websocket.MessageText, frame) != nil {
					t = m.await(ctx, done, ws.CloseNow)
					break send
				}
			}
		}
		ws.CloseNow()
		t.record(m.stats, "")
	})
}

// await waits up to closeWait for a connection's reader to end, then
// closes the connection with abort and waits for the reader anyway.
func (m *misbehaver) await(ctx context.Context, done <-chan frameTally, abort func() error) frameTally {
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	select {
	case t := <-done:
		return t
	case <-timer.C:
		m.odd(ctx, "the node did not close the connection within %v", closeWait)
	case <-ctx.Done():
	}
	abort()
	return <-done
}

// oversize sends one frame a byte over the node's limit, on WebSocket or,
// every other time, on TCP, and waits for the node to close.
func (m *misbehaver) oversize(ctx context.Context) {
	tcpToo := m.env.tcpAddr != "" && m.env.maxMessage < m.env.framing.maxLen()
	big, err := echoFrame(codec.JSON, m.env.maxMessage+1)
	if err != nil {
		m.odd(ctx, "echo frame: %w", err)
		return
	}
	m.again(ctx, func(i int) {
		if tcpToo && i%2 == 1 {
			s, err := m.env.dialTCP(ctx, m.id())
			if err != nil {
				m.odd(ctx, "tcp dial: %w", err)
				return
			}
			done := s.watch(ctx)
			// The prefix announces one byte more than the limit; the
			// node must close before the payload is all there.
			s.conn.Write(m.env.framing.prefix(nil, m.env.maxMessage+1, big[:1024]))
			m.await(ctx, done, s.conn.Close).record(m.stats, "tcp: ")
			s.conn.Close()
			return
		}
		ws, err := m.env.dialWS(ctx, m.id(), false)
		if err != nil {
			m.odd(ctx, "ws dial: %w", err)
			return
		}
		done := watchWS(ctx, ws)
		ws.Write(ctx, websocket.MessageText, big)
		m.await(ctx, done, ws.CloseNow).record(m.stats, "ws: ")
		ws.CloseNow()
	})
}

// malformedFrames are frames the node must answer with Error 400,
// keeping the connection.
var malformedFrames = [][]byte{
	[]byte(`{`),
	[]byte(`not json`),
	[]byte(`[1,2,3]`),
	[]byte(`{"data":{"x":1}}`),
	[]byte(`{"type":""}`),
	[]byte(`{"type":42}`),
	[]byte(`{"type":"` + strings.Repeat("x", codec.MaxTypeBytes+1) + `"}`),
	[]byte(`{"type":"Chatter","data":`),
	[]byte(`{"type":"Chatter","code":"x"}`),
}

// malformed holds one connection, WebSocket or TCP by misbehaver, and
// sends malformed frames on it at 20 a second, under the rate limit: each
// must be answered with Error 400 and the connection must stay.
func (m *misbehaver) malformed(ctx context.Context) {
	useTCP := m.env.tcpAddr != "" && m.nth%2 == 1
	m.again(ctx, func(int) {
		var write func([]byte) error
		var done <-chan frameTally
		var abort func() error
		if useTCP {
			s, err := m.env.dialTCP(ctx, m.id())
			if err != nil {
				m.odd(ctx, "tcp dial: %w", err)
				return
			}
			write, done, abort = s.write, s.watch(ctx), s.conn.Close
		} else {
			ws, err := m.env.dialWS(ctx, m.id(), false)
			if err != nil {
				m.odd(ctx, "ws dial: %w", err)
				return
			}
			write = func(b []byte) error { return ws.Write(ctx, websocket.MessageText, b) }
			done, abort = watchWS(ctx, ws), ws.CloseNow
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var sent int64
		for i := 0; ; i++ {
			select {
			case t := <-done:
				m.stats.saw("frames sent", sent)
				m.odd(ctx, "closed by the node after %d malformed frames (%s)", sent, t.end)
				t.record(m.stats, "")
				return
			case <-ctx.Done():
				abort()
				m.stats.saw("frames sent", sent)
				(<-done).record(m.stats, "")
				m.stats.saw(outOpenAtEnd, 1)
				return
			case <-tick.C:
			}
			if write(malformedFrames[i%len(malformedFrames)]) == nil {
				sent++
			}
		}
	})
}

// badToken presents a bad token, another each time, on a WebSocket
// handshake or, every other time, in a TCP Auth frame.
func (m *misbehaver) badToken(ctx context.Context) {
	bad, err := m.env.minter.badTokens(m.id())
	if err != nil {
		m.odd(ctx, "%w", err)
		return
	}
	m.again(ctx, func(i int) {
		b := bad[i/2%len(bad)]
		if m.env.tcpAddr != "" && i%2 == 1 {
			conn, br, err := m.env.dialRaw(ctx, m.env.tcpAddr, "")
			if err != nil {
				m.odd(ctx, "tcp dial: %w", err)
				return
			}
			defer conn.Close()
			if auth, err := authFrame(b.token); err == nil {
				conn.Write(m.env.framing.frame(auth))
			}
			t := readFrames(ctx, conn, br, m.env.framing, nil)
			if t.others > 0 {
				m.odd(ctx, "tcp: a %s token was let in", b.why)
			}
			t.record(m.stats, "tcp: ")
			return
		}
		ws, err := m.env.dialWSToken(ctx, b.token, false)
		var status *httpStatusError
		switch {
		case err == nil:
			m.odd(ctx, "ws: a %s token was let in", b.why)
			ws.CloseNow()
		case errors.As(err, &status):
			m.stats.saw(fmt.Sprintf("ws: HTTP %d", status.status), 1)
		default:
			m.odd(ctx, "ws: %s token: %w", b.why, err)
		}
	})
}

// pileTimeout is the timeout_ms of the calls a call-pileup misbehaver
// makes.
const pileTimeout = 3 * time.Second

// callPileup connects an agent that answers Pings but never replies, and
// keeps pileCalls REST calls in flight to it: the node holds up to
// --max-pending-calls of them until they time out (504) and refuses the
// rest (429).
func (m *misbehaver) callPileup(ctx context.Context) {
	id := m.id()
	ready := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		m.again(ctx, func(int) {
			ws, err := m.env.dialWS(ctx, id, false)
			if err != nil {
				m.odd(ctx, "dial: %w", err)
				return
			}
			defer ws.CloseNow()
			if _, _, err := ws.Read(ctx); err != nil { // Welcome
				m.odd(ctx, "reading Welcome: %w", err)
				return
			}
			once.Do(func() { close(ready) })
			t := <-watchWS(ctx, ws)
			m.odd(ctx, "the agent that never replies was closed: %s %s", t.kicked, t.end)
		})
	})
	select {
	case <-ready:
	case <-ctx.Done():
	}
	client := m.env.api.client(m.env.pileCalls)
	defer client.CloseIdleConnections()
	body := fmt.Appendf(nil, `{"type":"Pile","data":{},"timeout_ms":%d}`, pileTimeout.Milliseconds())
	for range m.env.pileCalls {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, err := m.env.api.postStatus(ctx, client, "/agents/"+id+"/call", body)
				switch {
				case ctx.Err() != nil:
					return // cut short by the end of the phase
				case err != nil:
					m.odd(ctx, "call: %w", err)
				default:
					m.stats.saw(fmt.Sprintf("HTTP %d", status), 1)
				}
				if status != http.StatusGatewayTimeout {
					sleep(ctx, m.env.pause)
				}
			}
		})
	}
	wg.Wait()
}

// postStatus POSTs body to path and returns the answer's status, its
// body read and dropped.
func (f *apiFlags) postStatus(ctx context.Context, c *http.Client, path string, body []byte) (int, error) {
	req, err := f.post(ctx, path, body)
	if err != nil {
		return 0, err
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, err = io.Copy(io.Discard, res.Body)
	return res.StatusCode, err
}
