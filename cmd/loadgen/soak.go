package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// soakRun holds many well-behaved agents, WebSocket and TCP, under an
// open-loop load of REST calls and broadcasts: first alone (the
// baseline), then with misbehavers alongside that break every rule the
// node defends (misbehave.go). It reports, for the well-behaved agents
// only, what each phase cost them, and whether the misbehavers added delay
// beyond noise or made them lose anything.
//
// The node must run with --jwt-secret (the same secret given here, or in
// HOTPOT_JWT_SECRET): the well-behaved agents present valid tokens, and
// the misbehavers bad ones.
type soakRun struct {
	dial      dialFlags
	api       apiFlags
	tcpAddr   string
	tcpLen    int
	tcpShare  float64
	jwtSecret string
	n, m      int
	rate      int
	dur       time.Duration
	warmup    time.Duration
	callRate  float64
	bcastRate float64
	noise     float64
	noiseMin  time.Duration
	kindList  string
	kinds     []int
	misbehave misbehaveEnv
	meter     meter
}

func setupSoak(fs *flag.FlagSet) runFunc {
	r := &soakRun{}
	r.dial.register(fs)
	r.api.register(fs)
	e := &r.misbehave
	fs.StringVar(&r.tcpAddr, "tcp", "127.0.0.1:8849", "the node's raw TCP port; empty: WebSocket only, and no TCP misbehaviour")
	fs.IntVar(&r.tcpLen, "tcp-len-bytes", 2, "the node's --tcp-len-bytes (its --tcp-codec must be json)")
	fs.Float64Var(&r.tcpShare, "tcp-share", 0.1, "share of the well-behaved agents on TCP, the rest on WebSocket")
	fs.StringVar(&r.jwtSecret, "jwt-secret", os.Getenv("HOTPOT_JWT_SECRET"), "the node's --jwt-secret, to mint tokens (default $HOTPOT_JWT_SECRET)")
	fs.IntVar(&r.n, "n", 5000, "well-behaved agents")
	fs.IntVar(&r.m, "m", 50, "misbehavers in the second phase, spread over the misbehaviours (-kinds) round robin")
	fs.IntVar(&r.rate, "rate", 1000, "new well-behaved connections started per second")
	fs.DurationVar(&r.dur, "d", 30*time.Second, "how long each phase is measured")
	fs.DurationVar(&r.warmup, "warmup", 3*time.Second, "how long the misbehavers run before the second phase is measured")
	fs.Float64Var(&r.callRate, "call-rate", 200, "REST calls a second to well-behaved agents, open loop, spread over them in turn")
	fs.Float64Var(&r.bcastRate, "broadcast-rate", 2, "broadcasts a second, open loop")
	fs.Float64Var(&r.noise, "noise", 0.2, "the verdict's noise: a p99 within max(noise × baseline, -noise-min) of the baseline's is no extra delay")
	fs.DurationVar(&r.noiseMin, "noise-min", 5*time.Millisecond, "the least delay counted as noise (see -noise)")
	fs.StringVar(&r.kindList, "kinds", "all", "the misbehaviours, comma-separated, from "+kindNames())
	fs.DurationVar(&e.pause, "pause", 250*time.Millisecond, "how long a misbehaver waits after being refused or closed before it tries again")
	fs.IntVar(&e.maxMessage, "max-message-bytes", 65536, "the node's --max-message-bytes: the oversize misbehavers send one byte more")
	fs.Float64Var(&e.floodRate, "flood-rate", 1000, "messages a second a flood misbehaver sends (the node's --rate-limit is 100 by default)")
	fs.IntVar(&e.echoBytes, "echo-bytes", 8<<10, "size of the Echo frames a slow-consumer misbehaver asks for (at most -max-message-bytes)")
	fs.IntVar(&e.holdConns, "hold-conns", 16, "connections each preauth-hold and slow-body misbehaver keeps open")
	fs.IntVar(&e.pileCalls, "pile-calls", 272, "calls each call-pileup misbehaver keeps in flight (the node's --max-pending-calls is 256 by default)")
	fs.StringVar(&e.preauthFrom, "preauth-from", "127.0.0.2", "source address of the preauth-hold connections, so that the node's per-address handshake limit they hit is theirs alone; empty: any")
	r.meter.register(fs)
	return r.run
}

// check reports flags out of range.
func (r *soakRun) check() error {
	e := &r.misbehave
	var err error
	if r.kinds, err = parseKinds(r.kindList); err != nil {
		return fmt.Errorf("-kinds: %w", err)
	}
	switch {
	case r.jwtSecret == "":
		return errors.New("-jwt-secret (or HOTPOT_JWT_SECRET): the node's secret is needed to mint tokens; start the node with --jwt-secret")
	case r.n < 1 || r.m < 0 || r.rate < 1:
		return fmt.Errorf("-n %d, -m %d, -rate %d: want n ≥ 1, m ≥ 0, rate ≥ 1", r.n, r.m, r.rate)
	case r.dur <= 0 || r.warmup < 0:
		return fmt.Errorf("-d %v, -warmup %v: want d > 0, warmup ≥ 0", r.dur, r.warmup)
	case !(r.callRate > 0 && r.callRate <= 10000) || !(r.bcastRate > 0 && r.bcastRate <= 100):
		return fmt.Errorf("-call-rate %v, -broadcast-rate %v: want 0 < call-rate ≤ 10000, 0 < broadcast-rate ≤ 100", r.callRate, r.bcastRate)
	case !(r.tcpShare >= 0 && r.tcpShare <= 1):
		return fmt.Errorf("-tcp-share %v: want 0 to 1", r.tcpShare)
	case r.tcpLen != 2 && r.tcpLen != 4:
		return fmt.Errorf("-tcp-len-bytes %d: want 2 or 4", r.tcpLen)
	case !(r.noise >= 0) || r.noiseMin < 0:
		return fmt.Errorf("-noise %v, -noise-min %v: must not be negative", r.noise, r.noiseMin)
	case e.pause <= 0 || e.maxMessage < 64 || !(e.floodRate > 0) || e.holdConns < 1 || e.pileCalls < 1 || e.echoBytes < 64:
		return fmt.Errorf("-pause %v, -max-message-bytes %d, -flood-rate %v, -hold-conns %d, -pile-calls %d, -echo-bytes %d: out of range",
			e.pause, e.maxMessage, e.floodRate, e.holdConns, e.pileCalls, e.echoBytes)
	}
	return nil
}

func (r *soakRun) run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	if err := r.check(); err != nil {
		return err
	}
	proto, err := r.dial.protocol()
	if err != nil {
		return err
	}
	if r.tcpAddr == "" {
		r.tcpShare = 0
	}
	e := &r.misbehave
	e.proto, e.tcpAddr, e.framing, e.api = proto, r.tcpAddr, tcpFraming{r.tcpLen}, &r.api
	e.minter = minter{[]byte(r.jwtSecret)}
	e.smallBuffers = smallBufferClient(4 << 10)
	defer e.smallBuffers.CloseIdleConnections()

	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &goodAgents{run: r, proto: proto, stop: stop, log: log}
	log.Info("connecting", "agents", r.n, "tcp_share", r.tcpShare, "rate", r.rate)
	start := time.Now()
	g.open()
	if err := g.dialErrs.firstErr(); err != nil || ctx.Err() != nil {
		cancel()
		g.wg.Wait()
		return cmpErr(ctx.Err(), fmt.Errorf("%d of %d well-behaved agents failed to connect; first: %w", g.dialErrs.count(), r.n, err))
	}
	fmt.Fprintf(out, "agents       %d well-behaved connected in %v: %d WebSocket%s, %d TCP; dial failures 0\n",
		r.n, time.Since(start).Round(time.Millisecond), r.n-g.tcp, proto.spread(), g.tcp)

	base := r.runPhase(ctx, g, 1, false, log)
	base.report(out)
	var mis *phaseResult
	if ctx.Err() == nil {
		mis = r.runPhase(ctx, g, 2, true, log)
		mis.report(out)
	}
	var after settled
	if mis != nil && base.metricsErr == "" {
		after = r.settle(ctx, base.Holding)
	}
	cancel()
	g.wg.Wait()
	if mis == nil {
		return ctx.Err()
	}
	v := r.verdict(base, mis, after)
	v.report(out, base, mis)
	soakResult{Mode: "soak", Agents: r.n, Misbehavers: r.m, Phases: []*phaseResult{base, mis}, Verdict: v}.write(out)
	if !v.NothingLost {
		return errors.New("well-behaved agents lost messages, failed calls or were closed")
	}
	return nil
}

// cmpErr returns first when it is not nil, else second.
func cmpErr(first, second error) error {
	if first != nil {
		return first
	}
	return second
}

// goodConn is a well-behaved agent's connection: *agent on WebSocket,
// *tcpAgent on TCP.
type goodConn interface {
	write(frame []byte) error
	serve(stop context.Context, handle func(env codec.Envelope, frame []byte)) error
}

// goodAgents are the well-behaved agents of a soak run: agent i is
// soak-good-<i>, on TCP when i falls in the run's TCP share. Each is
// served on its own goroutine, counted by wg, until stop ends.
type goodAgents struct {
	run   *soakRun
	proto *protocol
	stop  context.Context
	log   *slog.Logger
	wg    sync.WaitGroup
	tcp   int // how many are on TCP; set by open

	// current is the phase being measured; agents record into it.
	current atomic.Pointer[phase]
	// dialErrs are failed dials; drops connections that ended before
	// stop; replyErrs replies that could not be sent; unexpected Error
	// and Kicked frames, which a well-behaved agent should never get.
	dialErrs, drops, replyErrs, unexpected failures
}

// id names well-behaved agent i.
func goodID(i int) string { return fmt.Sprintf("soak-good-%d", i) }

// onTCP reports whether agent i connects over TCP: the TCP share is
// spread evenly over the agents.
func (g *goodAgents) onTCP(i int) bool {
	share := g.run.tcpShare
	return int(float64(i+1)*share) > int(float64(i)*share)
}

// open dials every agent, rate a second, and returns once every dial has
// finished, or stop has ended.
func (g *goodAgents) open() {
	r := g.run
	mint := minter{[]byte(r.jwtSecret)}
	var dials sync.WaitGroup
	start := time.Now()
	for i := range r.n {
		if g.onTCP(i) {
			g.tcp++
		}
		due := start.Add(time.Duration(int64(i) * int64(time.Second) / int64(r.rate)))
		if wait := time.Until(due); wait > time.Millisecond && !sleep(g.stop, wait) {
			break
		}
		dials.Add(1)
		g.wg.Go(func() {
			conn, c, err := g.dial(mint, i)
			dials.Done()
			if err != nil {
				if g.dialErrs.add(fmt.Errorf("%s: %w", goodID(i), err)) {
					g.log.Warn("dial failed (only the first is logged)", "agent", goodID(i), "err", err)
				}
				return
			}
			if err := conn.serve(g.stop, g.handler(i, c, conn)); err != nil {
				if g.drops.add(fmt.Errorf("%s: %w", goodID(i), err)) {
					g.log.Warn("well-behaved agent closed (only the first is logged)", "agent", goodID(i), "err", err)
				}
			}
		})
	}
	dials.Wait()
}

// dial connects agent i with a valid token, past its Welcome, and returns
// its connection and codec.
func (g *goodAgents) dial(mint minter, i int) (goodConn, codec.Codec, error) {
	token, err := mint.token(goodID(i))
	if err != nil {
		return nil, nil, err
	}
	if g.onTCP(i) {
		t, err := dialTCPAgent(g.stop, g.run.tcpAddr, tcpFraming{g.run.tcpLen}, token, g.proto.timeout)
		return t, codec.JSON, err
	}
	a, err := dialAgent(g.stop, g.proto, withQuery(g.proto.url(i), "token", token))
	return a, g.proto.codec, err
}

// soakCallType is the type of the calls to well-behaved agents.
const soakCallType = "SoakCall"

// handler returns what agent i does with a frame other than Ping: it
// replies to calls with their data, records the broadcasts of the
// current phase, and counts Error and Kicked frames as unexpected.
func (g *goodAgents) handler(i int, c codec.Codec, conn goodConn) func(codec.Envelope, []byte) {
	return func(env codec.Envelope, _ []byte) {
		switch {
		case env.Type == soakCallType && env.ID != "":
			reply, err := c.Encode(codec.Envelope{Type: "Reply", ID: env.ID, Data: env.Data})
			if err == nil {
				err = conn.write(reply)
			}
			if err != nil && g.stop.Err() == nil {
				g.replyErrs.add(fmt.Errorf("%s replying: %w", goodID(i), err))
			}
		case env.Type == "Error" || env.Type == "Kicked":
			p, _ := c.Payload(env.Data)
			g.unexpected.add(fmt.Errorf("%s got %s %d %q %s", goodID(i), env.Type, env.Code, env.Msg, p.Raw()))
		default:
			if ph := g.current.Load(); ph != nil && env.Type == ph.bcType {
				ph.arrived(i, c, env.Data)
			}
		}
	}
}
