package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// broadcastRun measures how fast broadcasts reach many agents: n WebSocket
// agents listen while POST /broadcast sends stamped, numbered events, and
// each agent records the delay of every event it gets (node, agents and
// broadcaster share this machine's clock). Every agent should get every
// broadcast the node answered 200 for; what does not arrive is lost.
//
// The broadcasts go in a closed loop (-every: one at a time, each when
// the last has been answered) or an open loop (-per-sec: one every 1/R s
// on its own goroutine, whatever the answers). Only the open loop shows
// overload: a closed loop slows down with the node and so hides it.
type broadcastRun struct {
	dial    dialFlags
	api     apiFlags
	n, rate int
	every   time.Duration
	perSec  float64
	dur     time.Duration
	stalled int
	meter   meter
}

// maxInFlight bounds the broadcasts of an open loop waiting for their
// answers; one due beyond it is not sent, and counted.
const maxInFlight = 256

func setupBroadcast(fs *flag.FlagSet) runFunc {
	r := &broadcastRun{}
	r.dial.register(fs)
	r.api.register(fs)
	fs.IntVar(&r.n, "n", 1000, "agents listening")
	fs.IntVar(&r.rate, "rate", 1000, "new connections started per second")
	fs.DurationVar(&r.every, "every", 100*time.Millisecond, "closed loop: time between broadcasts, each sent only once the last is answered (when -per-sec is 0)")
	fs.Float64Var(&r.perSec, "per-sec", 0, fmt.Sprintf("open loop: broadcasts per second, each POST on its own goroutine whatever the answers (at most %d in flight, each limited to %v); 0 uses -every", maxInFlight, apiTimeout))
	fs.DurationVar(&r.dur, "d", 10*time.Second, "how long to broadcast (at most d/interval broadcasts, the first at once), once all agents have connected")
	fs.IntVar(&r.stalled, "stalled", 0, "of the agents, how many stop reading after their first frame (clients stuck on a full socket); the figures are the others'")
	r.meter.register(fs)
	return r.run
}

// benchType is the type of the stamped events.
const benchType = "BroadcastBench"

// interval returns the time between broadcasts the flags ask for.
func (r *broadcastRun) interval() (time.Duration, error) {
	switch {
	case r.n < 1 || r.rate < 1:
		return 0, fmt.Errorf("-n %d, -rate %d: want at least 1 each", r.n, r.rate)
	case r.dur <= 0:
		return 0, fmt.Errorf("-d %v: must be positive", r.dur)
	case r.perSec < 0 || r.perSec > 10000:
		return 0, fmt.Errorf("-per-sec %v: want 0 to 10000", r.perSec)
	case r.perSec > 0:
		return time.Duration(float64(time.Second) / r.perSec), nil
	case r.every <= 0:
		return 0, fmt.Errorf("-every %v: must be positive", r.every)
	}
	return r.every, nil
}

// loop describes how the broadcasts are sent.
func (r *broadcastRun) loop() string {
	if r.perSec > 0 {
		return fmt.Sprintf("open loop at %g/s, at most %d in flight", r.perSec, maxInFlight)
	}
	return fmt.Sprintf("closed loop, every %v", r.every)
}

func (r *broadcastRun) run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	interval, err := r.interval()
	if err != nil {
		return err
	}
	proto, err := r.dial.protocol()
	if err != nil {
		return err
	}
	st := &idleState{n: r.n, ready: make(chan struct{}), emptied: make(chan struct{}, 1)}
	stop, cancel := context.WithCancel(ctx)
	defer cancel()

	tl := newTally(max(int(r.dur/interval), 1))
	// Each agent records into its own delays, lastArrival and seen, on
	// the goroutine that reads it; they are read once every agent is
	// closed.
	delays := make([]latencies, r.n)
	lastArrival := make([]time.Time, r.n)
	// seen marks, per agent, the broadcasts it got: one got twice is a
	// duplicate.
	seen := make([][]uint64, r.n)
	for i := r.stalled; i < r.n; i++ {
		seen[i] = make([]uint64, (tl.capacity()+63)/64)
	}
	var badData failures
	var duplicates atomic.Int64
	handle := func(i int, env codec.Envelope) bool {
		if i < r.stalled {
			return false // reads no more
		}
		if env.Type != benchType {
			return true
		}
		s, err := stampOf(proto.codec, env.Data)
		if err != nil {
			badData.add(err)
			return true
		}
		if s.Seq >= 0 && int(s.Seq) < tl.capacity() {
			word, bit := &seen[i][s.Seq/64], uint64(1)<<(s.Seq%64)
			if *word&bit != 0 {
				duplicates.Add(1)
				return true
			}
			*word |= bit
		}
		lastArrival[i] = time.Now()
		delays[i].add(lastArrival[i].Sub(time.Unix(0, s.T)))
		tl.arrived(s.Seq)
		return true
	}
	var wg sync.WaitGroup
	log.Info("connecting", "url", r.dial.urls.String(), "agents", r.n, "rate", r.rate)
	if err := openAll(stop, proto, r.n, r.rate, st, log, &wg, handle); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	select {
	case <-st.ready:
	case <-ctx.Done():
		cancel()
		wg.Wait()
		return ctx.Err()
	}
	agents := st.open.Load() - int64(min(r.stalled, r.n)) // those that read
	if err := r.meter.begin(log, "loop", r.loop(), "for", r.dur, "agents", agents); err != nil {
		cancel()
		wg.Wait()
		return err
	}

	start := time.Now()
	sending := r.send(ctx, interval, tl)
	// Events still queued on the nodes keep arriving for a while.
	awaitArrivals(ctx, tl.received, agents*int64(tl.sentCount()), 3*time.Second)
	serverCPU, serverErr := r.meter.end(log)
	cancel()
	wg.Wait()
	if serverErr != nil {
		return serverErr
	}

	o := tl.outcome(agents)
	last := start
	for _, t := range lastArrival {
		if t.After(last) {
			last = t
		}
	}
	fmt.Fprintf(out, "agents       %d reading%s, %d stalled, dial failures %s\n", agents, proto.spread(), r.stalled, &st.dialErrs)
	fmt.Fprintf(out, "broadcasts   %d sent in %v: %.1f/s (%s); %d answered 200, %d timed out (%v), %d failed, %d due but not sent (in-flight limit)\n",
		o.sent, sending.Round(time.Millisecond), perSecond(int64(o.sent), sending), r.loop(),
		o.answered, tl.timedOut.count(), apiTimeout, tl.failed.count(), tl.notSent.Load())
	fmt.Fprintf(out, "answers      nodes %d to %d, partial %d\n", o.nodesMin, o.nodesMax, o.partial)
	fmt.Fprintf(out, "deliveries   %d received in %v: %.0f/s (first send to last arrival)\n",
		o.received+o.late, last.Sub(start).Round(time.Millisecond), perSecond(o.received+o.late, last.Sub(start)))
	fmt.Fprintf(out, "lost         %d of %d expected (agents × broadcasts answered 200; the nodes promised %d); %d more arrived of broadcasts not answered 200\n",
		o.lost, o.expected, o.promised, o.late)
	fmt.Fprintf(out, "delay        %s (send to receive)\n", summarize(delays))
	fmt.Fprintf(out, "duplicates   %d (a broadcast an agent got more than once)\n", duplicates.Load())
	fmt.Fprintf(out, "errors       timed out %s; failed %s; bad event data %s; unexpected closes %s\n",
		&tl.timedOut, &tl.failed, &badData, &st.drops)
	d := summarize(delays)
	result{Mode: "broadcast", Ops: o.received + o.late, PerSecond: perSecond(o.received+o.late, last.Sub(start)),
		P50MS: ms(d.p50), P99MS: ms(d.p99), Lost: o.lost, Duplicates: duplicates.Load(),
		Failed:       tl.timedOut.count() + tl.failed.count() + tl.notSent.Load(),
		AgentsClosed: st.drops.count()}.write(out, serverCPU)
	if o.lost > 0 || duplicates.Load() > 0 || o.answered < o.sent || tl.notSent.Load() > 0 || badData.count() > 0 {
		return errors.New("some broadcasts failed or were lost")
	}
	return nil
}

// send broadcasts at once and then every interval, as many as the tally
// has room for (r.dur/interval), until r.dur has passed; then it waits for the answers
// still due. It returns how long it sent for (r.dur unless ctx ended).
//
// Broadcast k is due at k × interval from the start. An open loop sends
// every broadcast when it is due, or at once when it is late; a closed loop
// that is late, after a slow answer, sends one at once and then keeps to
// the next due time, as a time.Ticker would.
func (r *broadcastRun) send(ctx context.Context, interval time.Duration, tl *tally) time.Duration {
	conns := 1
	if r.perSec > 0 {
		conns = maxInFlight
	}
	c := r.api.client(conns)
	defer c.CloseIdleConnections()
	window, cancel := context.WithTimeout(ctx, r.dur)
	defer cancel()
	inFlight := make(chan struct{}, maxInFlight)
	var posts sync.WaitGroup
	defer posts.Wait()
	start := time.Now()
	due := time.NewTimer(0)
	defer due.Stop()
	for k := 0; ; k++ {
		select {
		case <-due.C:
		case <-window.Done():
			return time.Since(start)
		}
		if k < tl.capacity() {
			r.sendOne(ctx, c, tl, inFlight, &posts)
		}
		if late := int(time.Since(start) / interval); r.perSec == 0 && late > k+1 {
			k = late - 1
		}
		due.Reset(time.Until(start.Add(time.Duration(k+1) * interval)))
	}
}

// sendOne sends the next broadcast. In a closed loop it waits for the
// answer. In an open loop it posts on a goroutine counted by posts, unless
// inFlight, which holds a token for every broadcast in flight, is full.
func (r *broadcastRun) sendOne(ctx context.Context, c *http.Client, tl *tally, inFlight chan struct{}, posts *sync.WaitGroup) {
	if r.perSec == 0 {
		seq := tl.next()
		res, err := r.broadcast(ctx, c, seq)
		tl.answer(seq, res, err)
		return
	}
	select {
	case inFlight <- struct{}{}:
	default:
		tl.notSent.Add(1)
		return
	}
	seq := tl.next()
	posts.Go(func() {
		defer func() { <-inFlight }()
		res, err := r.broadcast(ctx, c, seq)
		tl.answer(seq, res, err)
	})
}

// broadcast sends broadcast seq, stamped now, and returns the node's
// answer.
func (r *broadcastRun) broadcast(ctx context.Context, c *http.Client, seq int) (broadcastResult, error) {
	return postBroadcast(ctx, &r.api, c, benchType, seq)
}

// postBroadcast sends broadcast seq of type typ, stamped now, through
// api's POST /broadcast and returns the node's answer; an answer other
// than 200 is an error.
func postBroadcast(ctx context.Context, api *apiFlags, c *http.Client, typ string, seq int) (broadcastResult, error) {
	req, err := api.post(ctx, "/broadcast", stampedEvent(typ, int64(seq)))
	if err != nil {
		return broadcastResult{}, err
	}
	res, err := c.Do(req)
	if err != nil {
		return broadcastResult{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return broadcastResult{}, fmt.Errorf("%s: %.200s", res.Status, b)
	}
	var result broadcastResult
	if err := json.NewDecoder(res.Body).Decode(&result); err != nil {
		return broadcastResult{}, err
	}
	return result, nil
}
