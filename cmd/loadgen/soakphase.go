package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// phase is what one phase of a soak run records while it is measured.
type phase struct {
	// bcType is the type of this phase's broadcasts, so that a late one
	// from an earlier phase is not counted in this one.
	bcType string
	tl     *tally
	// recs are the well-behaved agents' records, by agent; each is written
	// by its agent's read loop.
	recs  []agentRecord
	calls callTally
}

// agentRecord is what one well-behaved agent got of a phase's broadcasts.
type agentRecord struct {
	mu     sync.Mutex // guards the fields below
	delays latencies
	seen   []uint64 // bit seq: broadcast seq arrived
	dups   int64
	bad    int64 // broadcasts whose stamp could not be read
}

// callTally is what became of a phase's calls. It is safe for concurrent
// use.
type callTally struct {
	sent    atomic.Int64
	notSent atomic.Int64 // due while the most allowed were in flight
	failed  failures

	mu  sync.Mutex // guards lat
	lat latencies
}

func newPhase(n, number, broadcasts int) *phase {
	p := &phase{bcType: "SoakBroadcast" + strconv.Itoa(number), tl: newTally(broadcasts), recs: make([]agentRecord, n)}
	for i := range p.recs {
		p.recs[i].seen = make([]uint64, (broadcasts+63)/64)
	}
	return p
}

// arrived records a broadcast of this phase reaching agent i.
func (p *phase) arrived(i int, c codec.Codec, data []byte) {
	rec := &p.recs[i]
	s, err := stampOf(c, data)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err != nil || s.Seq < 0 || int(s.Seq) >= p.tl.capacity() {
		rec.bad++
		return
	}
	word, bit := &rec.seen[s.Seq/64], uint64(1)<<(s.Seq%64)
	if *word&bit != 0 {
		rec.dups++
		return
	}
	*word |= bit
	rec.delays = append(rec.delays, s.delay())
	p.tl.arrived(s.Seq)
}

// maxCallsInFlight bounds the calls of a phase waiting for their answers;
// one due beyond it is not sent, and counted.
const maxCallsInFlight = 1024

// runPhase measures one phase: calls and broadcasts for r.dur, with
// misbehavers alongside when misbehave is set (started r.warmup before).
func (r *soakRun) runPhase(ctx context.Context, g *goodAgents, number int, misbehave bool, log *slog.Logger) *phaseResult {
	broadcasts := max(int(r.dur.Seconds()*r.bcastRate+0.5), 1)
	p := newPhase(r.n, number, broadcasts)
	g.current.Store(p)
	res := &phaseResult{Name: "baseline", Misbehavers: 0}
	var ms *misbehavers
	if misbehave {
		res.Name, res.Misbehavers = "misbehaving", r.m
		log.Info("misbehavers starting", "misbehavers", r.m, "warmup", r.warmup)
		ms = startMisbehavers(ctx, &r.misbehave, r.m, r.kinds)
		e := &r.misbehave
		res.settings = fmt.Sprintf("pause %v after each close, echo-bytes %d, flood %g/s, hold-conns %d, pile-calls %d (timeout %v), max-message-bytes %d, preauth from %q",
			e.pause, min(e.echoBytes, e.maxMessage), e.floodRate, e.holdConns, e.pileCalls, pileTimeout, e.maxMessage, e.preauthFrom)
		sleep(ctx, r.warmup)
	}
	drops, unexpected, replyErrs := g.drops.count(), g.unexpected.count(), g.replyErrs.count()

	mc := r.api.client(1)
	defer mc.CloseIdleConnections()
	m0, metricsErr := r.api.scrapeMetrics(ctx, mc)
	meterErr := r.meter.begin(log, "phase", res.Name, "for", r.dur)
	rss := startRSS(r.meter.pids)
	cpu0, busy0, start := processCPU(), machineBusy(), time.Now()
	window, cancel := context.WithTimeout(ctx, r.dur)
	var loops sync.WaitGroup
	loops.Go(func() { r.callLoop(ctx, window, p) })
	loops.Go(func() { r.broadcastLoop(ctx, window, p) })
	loops.Wait()
	cancel()
	awaitArrivals(ctx, p.tl.received, int64(r.n)*int64(p.tl.sentCount()), 3*time.Second)
	serverCPU, endErr := r.meter.end(log, "phase", res.Name)
	if meterErr == nil {
		meterErr = endErr
	}
	elapsed, cpu, busy := time.Since(start), processCPU()-cpu0, machineBusy()-busy0
	res.RSSMiB, res.RSSPeakMiB = rss.stop()
	if metricsErr == nil {
		var m1 metrics
		if m1, metricsErr = r.api.scrapeMetrics(ctx, mc); metricsErr == nil {
			res.Kicks = m1.labelled(m0, "hotpot_kicks_total", "reason")
			for _, n := range m1.labelled(m0, "hotpot_frames_rate_limited_total", "transport") {
				res.RateLimited += n
			}
			for _, n := range m1.labelled(m0, "hotpot_frames_in_total", "transport") {
				res.FramesIn += n
			}
			res.Holding = m1.holdings()
		}
	}
	if metricsErr != nil {
		res.metricsErr = metricsErr.Error()
	}
	if ms != nil {
		ms.stop()
		res.Misbehaviour = ms.results()
	}

	res.fill(p, r.n)
	res.AgentsClosed = g.drops.count() - drops
	res.UnexpectedFrames = g.unexpected.count() - unexpected
	res.ReplyFailures = g.replyErrs.count() - replyErrs
	res.firstErrs = []string{errString(&p.calls.failed), errString(&p.tl.failed), errString(&p.tl.timedOut)}
	// The agents' failures add up over the run: their first is this
	// phase's only when the phase added some.
	for _, f := range []struct {
		n    int64
		errs *failures
	}{{res.AgentsClosed, &g.drops}, {res.UnexpectedFrames, &g.unexpected}, {res.ReplyFailures, &g.replyErrs}} {
		if f.n > 0 {
			res.firstErrs = append(res.firstErrs, errString(f.errs))
		}
	}
	res.Seconds = elapsed.Seconds()
	res.LoadgenCPUPct = 100 * cpu.Seconds() / elapsed.Seconds()
	if busy0 > 0 {
		res.MachineBusyPct = 100 * busy.Seconds() / elapsed.Seconds()
	}
	res.Cores = runtime.NumCPU()
	if meterErr != nil {
		res.meterErr = meterErr.Error()
	} else {
		res.serverCPU(serverCPU, elapsed)
	}
	res.callRate, res.bcastRate = r.callRate, r.bcastRate
	return res
}

// errString describes f's first error, or "".
func errString(f *failures) string {
	if err := f.firstErr(); err != nil {
		return err.Error()
	}
	return ""
}

// callLoop sends calls at r.callRate until window ends, to the
// well-behaved agents in turn, each on its own goroutine, and waits for
// their answers.
func (r *soakRun) callLoop(ctx, window context.Context, p *phase) {
	c := r.api.client(maxCallsInFlight)
	defer c.CloseIdleConnections()
	inFlight := make(chan struct{}, maxCallsInFlight)
	var calls sync.WaitGroup
	defer calls.Wait()
	pace(window, r.callRate, func(k int) {
		select {
		case inFlight <- struct{}{}:
		default:
			p.calls.notSent.Add(1)
			return
		}
		p.calls.sent.Add(1)
		calls.Go(func() {
			defer func() { <-inFlight }()
			r.call(ctx, c, p, k)
		})
	})
}

// call makes call k, to well-behaved agent k mod n, and records it.
func (r *soakRun) call(ctx context.Context, c *http.Client, p *phase, k int) {
	body := fmt.Appendf(nil, `{"type":%q,"data":{"k":%d},"timeout_ms":5000}`, soakCallType, k)
	req, err := r.api.post(ctx, "/agents/"+goodID(k%r.n)+"/call", body)
	if err != nil {
		p.calls.failed.add(err)
		return
	}
	sent := time.Now()
	res, err := c.Do(req)
	if err != nil {
		p.calls.failed.add(err)
		return
	}
	var answer struct {
		Data struct {
			K *int `json:"k"`
		} `json:"data"`
	}
	err = json.NewDecoder(res.Body).Decode(&answer)
	res.Body.Close()
	took := time.Since(sent)
	switch {
	case res.StatusCode != http.StatusOK:
		p.calls.failed.add(fmt.Errorf("call %d: %s", k, res.Status))
	case err != nil || answer.Data.K == nil || *answer.Data.K != k:
		p.calls.failed.add(fmt.Errorf("call %d: answered with other data (%v)", k, err))
	default:
		p.calls.mu.Lock()
		p.calls.lat.add(took)
		p.calls.mu.Unlock()
	}
}

// broadcastLoop broadcasts stamped events at r.bcastRate until window
// ends, as many as the phase's tally has room for, and waits for the
// answers.
func (r *soakRun) broadcastLoop(ctx, window context.Context, p *phase) {
	c := r.api.client(maxInFlight)
	defer c.CloseIdleConnections()
	inFlight := make(chan struct{}, maxInFlight)
	var posts sync.WaitGroup
	defer posts.Wait()
	pace(window, r.bcastRate, func(k int) {
		if k >= p.tl.capacity() {
			return
		}
		select {
		case inFlight <- struct{}{}:
		default:
			p.tl.notSent.Add(1)
			return
		}
		seq := p.tl.next()
		posts.Go(func() {
			defer func() { <-inFlight }()
			res, err := postBroadcast(ctx, &r.api, c, p.bcType, seq)
			p.tl.answer(seq, res, err)
		})
	})
}

// pace calls fire(k) for k = 0, 1, … at k/rate seconds from its start
// until window ends: an open loop, where fire must not wait for what it
// starts, and one that falls behind fires what is due at once.
func pace(window context.Context, rate float64, fire func(k int)) {
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	due := time.NewTimer(0)
	defer due.Stop()
	for k := 0; ; k++ {
		select {
		case <-due.C:
		case <-window.Done():
			return
		}
		fire(k)
		due.Reset(time.Until(start.Add(time.Duration(k+1) * interval)))
	}
}

// rssSampler follows the resident memory of the server's processes.
type rssSampler struct {
	pids    []int
	stopped chan struct{}
	done    chan struct{}
	peak    int64 // kB; written by the sampling goroutine
}

// rssInterval is how often the resident memory is sampled.
const rssInterval = 500 * time.Millisecond

// startRSS starts sampling the summed VmRSS of pids.
func startRSS(pids []int) *rssSampler {
	s := &rssSampler{pids: pids, stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(rssInterval)
		defer t.Stop()
		for {
			s.peak = max(s.peak, s.sample())
			select {
			case <-s.stopped:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the resident memory now and its peak
// over the sampling, in MiB; zeros when it cannot be read.
func (s *rssSampler) stop() (now, peak float64) {
	close(s.stopped)
	<-s.done
	kB := s.sample()
	return float64(kB) / 1024, float64(max(s.peak, kB)) / 1024
}

// sample returns the summed VmRSS of the processes in kB, 0 when unknown.
func (s *rssSampler) sample() int64 {
	var total int64
	for _, pid := range s.pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0
		}
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kB, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				total += kB
			}
		}
	}
	return total
}

// machineBusy returns the CPU time all cores of the machine have spent
// not idle since boot, from /proc/stat: 0 when it cannot be read.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond
}
