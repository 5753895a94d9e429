package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// dialFlags are the flags of the subcommands that open WebSocket agents.
type dialFlags struct {
	urls      urlList
	codecName string
	timeout   time.Duration
}

// register defines the flags on fs.
func (d *dialFlags) register(fs *flag.FlagSet) {
	d.urls = urlList{"ws://127.0.0.1:8848/ws"}
	fs.Var(&d.urls, "url", "WebSocket `URLs` of the nodes, comma-separated; with n URLs, agent i dials URL i mod n, so the agents are spread round robin (half on each of two nodes)")
	fs.StringVar(&d.codecName, "codec", "json", "wire codec: json, msgpack or proto (asked for as subprotocol hotpot.<codec>)")
	fs.DurationVar(&d.timeout, "dial-timeout", 10*time.Second, "limit on one agent's handshake, up to its Welcome")
}

// protocol returns the wire protocol the flags ask for.
func (d *dialFlags) protocol() (*protocol, error) {
	if len(d.urls) == 0 {
		return nil, errors.New("-url: no WebSocket URL given")
	}
	c, ok := codec.Lookup(d.codecName)
	if !ok {
		return nil, fmt.Errorf("-codec %q: want json, msgpack or proto", d.codecName)
	}
	pong, err := c.Encode(codec.Envelope{Type: "Pong"})
	if err != nil {
		return nil, fmt.Errorf("encoding Pong: %w", err)
	}
	msgType := websocket.MessageText
	if c.Binary() {
		msgType = websocket.MessageBinary
	}
	return &protocol{urls: d.urls, timeout: d.timeout, codec: c, msgType: msgType, pong: pong}, nil
}

// urlList is the value of -url: one or more WebSocket URLs, given
// comma-separated. Set replaces the list, so the last -url given wins.
type urlList []string

// Set parses a comma-separated list of ws:// or wss:// URLs.
func (l *urlList) Set(s string) error {
	var urls urlList
	for u := range strings.SplitSeq(s, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			return errors.New("empty URL in the list")
		}
		parsed, err := url.Parse(u)
		switch {
		case err != nil:
			return err
		case parsed.Scheme != "ws" && parsed.Scheme != "wss":
			return fmt.Errorf("%q: want a ws:// or wss:// URL", u)
		case parsed.Host == "":
			return fmt.Errorf("%q: no host", u)
		}
		urls = append(urls, u)
	}
	*l = urls
	return nil
}

// String returns the list as it is given on the command line.
func (l *urlList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// protocol is what every agent of a run shares: where it connects, its
// codec and the frames it sends that never change.
type protocol struct {
	// urls are the nodes' WebSocket URLs; url spreads agents over them.
	urls    []string
	timeout time.Duration
	codec   codec.Codec
	msgType websocket.MessageType
	pong    []byte // the encoded Pong answering every Ping
	// pongs counts the Pongs sent by all agents.
	pongs atomic.Int64
}

// opcode returns the WebSocket opcode of the protocol's frames: text or
// binary, by codec.
func (p *protocol) opcode() byte {
	if p.codec.Binary() {
		return wsproto.OpBinary
	}
	return wsproto.OpText
}

// url returns the URL that agent i dials: the agents are spread over the
// URLs round robin.
func (p *protocol) url(i int) string { return p.urls[i%len(p.urls)] }

// spread describes, for a report, how the agents were spread: "" when
// there is one URL.
func (p *protocol) spread() string {
	if len(p.urls) == 1 {
		return ""
	}
	return fmt.Sprintf(" (round robin over %d URLs)", len(p.urls))
}

// agent is one WebSocket connection to a node whose Welcome has been read.
// Its frames are read by serve only; write may be called from any
// goroutine. Every read and write runs under ctx, which a watchdog cancels
// when the node has been silent too long; so no read or write blocks for
// longer than that, without a timer per frame.
type agent struct {
	proto *protocol
	ws    *websocket.Conn
	// silence is the longest a healthy node stays silent: it pings an agent
	// within two keepalive intervals of its last frame, and the agent
	// answers every Ping, so limit+interval (≥ 2 intervals) is enough.
	silence time.Duration

	ctx    context.Context
	cancel context.CancelCauseFunc
	// born is when the agent was made; lastFrame is when its last frame
	// arrived, counted from born (a monotonic clock).
	born      time.Time
	lastFrame atomic.Int64
	// watchdog fires at the earliest moment silence could be exceeded.
	watchdog *time.Timer
}

// errSilent reports a node that sent nothing for longer than its
// keepalive allows.
var errSilent = errors.New("node silent past its keepalive")

// newAgent wraps a connection whose Welcome has just been read and starts
// its watchdog. The agent must be released.
func newAgent(p *protocol, ws *websocket.Conn, silence time.Duration) *agent {
	ctx, cancel := context.WithCancelCause(context.Background())
	a := &agent{proto: p, ws: ws, silence: silence, ctx: ctx, cancel: cancel, born: time.Now()}
	a.watchdog = time.AfterFunc(silence, a.checkSilence)
	return a
}

// checkSilence runs when the watchdog fires. It cancels the agent's
// context when no frame arrived for silence, else waits out the rest.
func (a *agent) checkSilence() {
	if a.ctx.Err() != nil {
		return
	}
	quiet := time.Since(a.born) - time.Duration(a.lastFrame.Load())
	if quiet >= a.silence {
		a.cancel(fmt.Errorf("%w (%v)", errSilent, a.silence))
		return
	}
	a.watchdog.Reset(a.silence - quiet)
}

// release closes the connection at once, if still open, and stops the
// watchdog.
func (a *agent) release() {
	a.cancel(nil)
	a.watchdog.Stop()
	a.ws.CloseNow()
}

// dialAgent connects to the node at addr and reads its Welcome, all within
// the protocol's dial timeout and ctx.
func dialAgent(ctx context.Context, p *protocol, addr string) (*agent, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, addr, &websocket.DialOptions{
		Subprotocols: []string{"hotpot." + p.codec.Name()},
	})
	if err != nil {
		return nil, err
	}
	_, frame, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("reading Welcome: %w", err)
	}
	keepalive, err := parseWelcome(p.codec, frame)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	return newAgent(p, ws, keepalive.Limit+keepalive.Interval), nil
}

// dialAll opens n agents at once, spread over the protocol's URLs. If any
// fails, it closes the others and returns how many failed and the first
// error.
func dialAll(ctx context.Context, p *protocol, n int) ([]*agent, error) {
	agents := make([]*agent, n)
	var errs failures
	var wg sync.WaitGroup
	for i := range agents {
		wg.Go(func() {
			a, err := dialAgent(ctx, p, p.url(i))
			if err != nil {
				errs.add(err)
				return
			}
			agents[i] = a
		})
	}
	wg.Wait()
	if errs.count() == 0 {
		return agents, nil
	}
	for _, a := range agents {
		if a != nil {
			a.release()
		}
	}
	return nil, fmt.Errorf("%d of %d dials failed; first: %w", errs.count(), n, errs.firstErr())
}

// keepalive is the node's keepalive policy, as told in Welcome.
type keepalive struct {
	Interval, Limit time.Duration
}

// parseWelcome checks that frame is a Welcome and returns its keepalive.
func parseWelcome(c codec.Codec, frame []byte) (keepalive, error) {
	env, err := c.Decode(frame)
	if err != nil {
		return keepalive{}, fmt.Errorf("first frame: %w", err)
	}
	if env.Type != "Welcome" {
		return keepalive{}, fmt.Errorf("first frame is %s, want Welcome", env.Type)
	}
	payload, err := c.Payload(env.Data)
	if err != nil {
		return keepalive{}, fmt.Errorf("Welcome data: %w", err)
	}
	raw := payload.Raw()
	var w struct {
		Keepalive struct {
			IntervalMS int64 `json:"interval_ms"`
			LimitMS    int64 `json:"limit_ms"`
		} `json:"keepalive"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return keepalive{}, fmt.Errorf("Welcome data %q: %w", raw, err)
	}
	if w.Keepalive.IntervalMS <= 0 || w.Keepalive.LimitMS <= 0 {
		return keepalive{}, fmt.Errorf("Welcome data %q: no keepalive interval and limit", raw)
	}
	return keepalive{
		Interval: time.Duration(w.Keepalive.IntervalMS) * time.Millisecond,
		Limit:    time.Duration(w.Keepalive.LimitMS) * time.Millisecond,
	}, nil
}

// write sends one frame.
func (a *agent) write(frame []byte) error {
	return a.err(a.ws.Write(a.ctx, a.proto.msgType, frame))
}

// read returns the next frame.
func (a *agent) read() ([]byte, error) {
	_, frame, err := a.ws.Read(a.ctx)
	if err != nil {
		return nil, a.err(err)
	}
	a.lastFrame.Store(int64(time.Since(a.born)))
	return frame, nil
}

// err returns errSilent for an error caused by the watchdog, else err.
func (a *agent) err(err error) error {
	if cause := context.Cause(a.ctx); err != nil && errors.Is(cause, errSilent) {
		return cause
	}
	return err
}

// serve is the agent's read loop. It answers every Ping with a Pong and
// hands every other frame to handle (when not nil), until the connection
// ends. When stop ends first, serve closes the connection with a close
// handshake and returns nil; otherwise it returns why the connection
// ended. Either way the agent is released when serve returns.
func (a *agent) serve(stop context.Context, handle func(env codec.Envelope, frame []byte)) error {
	defer a.release()
	closed := make(chan struct{})
	stopClose := context.AfterFunc(stop, func() {
		defer close(closed)
		a.ws.Close(websocket.StatusNormalClosure, "")
	})
	err := a.readLoop(handle)
	if stopClose() {
		return err
	}
	<-closed
	return nil
}

// readLoop reads until the connection fails or the node stays silent
// longer than it can while healthy.
func (a *agent) readLoop(handle func(env codec.Envelope, frame []byte)) error {
	for {
		frame, err := a.read()
		if err != nil {
			return err
		}
		env, err := a.proto.decode(frame)
		if err != nil {
			return fmt.Errorf("frame from node: %w", err)
		}
		switch {
		case env.Type == "Ping":
			if err := a.write(a.proto.pong); err != nil {
				return fmt.Errorf("answering Ping: %w", err)
			}
			a.proto.pongs.Add(1)
		case handle != nil:
			handle(env, frame)
		}
	}
}
