package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// idleRun holds many idle agents open: each only answers Pings. It is how
// memory and keepalive CPU per connection are measured on the node.
type idleRun struct {
	dial dialFlags
	n    int
	rate int
	hold time.Duration
}

func setupIdle(fs *flag.FlagSet) runFunc {
	r := &idleRun{}
	r.dial.register(fs)
	fs.IntVar(&r.n, "n", 1000, "agents to open")
	fs.IntVar(&r.rate, "rate", 1000, "new connections started per second")
	fs.DurationVar(&r.hold, "hold", 60*time.Second, "how long to keep the agents open once all have connected")
	return r.run
}

// idleState is what the agents of an idle run have in common.
type idleState struct {
	n int
	// open counts agents past Welcome and not yet closed.
	open atomic.Int64
	// settled counts agents whose dial has finished, well or not; when it
	// reaches n, ready is closed.
	settled atomic.Int64
	ready   chan struct{}
	// emptied is signalled when open drops to zero, so that a hold with
	// every agent gone ends early.
	emptied chan struct{}
	// dialErrs are failed dials; drops are connections that ended before
	// the run closed them.
	dialErrs, drops failures
}

// settle counts one finished dial.
func (s *idleState) settle() {
	if s.settled.Add(1) == int64(s.n) {
		close(s.ready)
	}
}

func (r *idleRun) run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	switch {
	case r.n < 1:
		return fmt.Errorf("-n %d: want at least 1", r.n)
	case r.rate < 1:
		return fmt.Errorf("-rate %d: want at least 1", r.rate)
	case r.hold < 0:
		return fmt.Errorf("-hold %v: must not be negative", r.hold)
	}
	proto, err := r.dial.protocol()
	if err != nil {
		return err
	}
	st := &idleState{n: r.n, ready: make(chan struct{}), emptied: make(chan struct{}, 1)}

	// stop ends the run: it stops the dialing and closes every agent.
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { st.logProgress(stop, log) })

	start := time.Now()
	log.Info("connecting", "url", r.dial.urls.String(), "agents", r.n, "rate", r.rate)
	if err := openAll(stop, proto, r.n, r.rate, st, log, &wg, nil); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	select {
	case <-st.ready:
		fmt.Fprintf(out, "ready %d agents in %v (dial failures: %s)\n",
			st.open.Load(), time.Since(start).Round(time.Millisecond), &st.dialErrs)
		st.hold(ctx, r.hold, log)
	case <-ctx.Done():
	}

	closing := st.open.Load()
	log.Info("closing", "agents", closing)
	closeStart := time.Now()
	cancel()
	wg.Wait()
	fmt.Fprintf(out, "closed %d agents in %v\n", closing, time.Since(closeStart).Round(time.Millisecond))
	fmt.Fprintf(out, "pongs sent         %d\n", proto.pongs.Load())
	fmt.Fprintf(out, "dial failures      %s\n", &st.dialErrs)
	fmt.Fprintf(out, "unexpected closes  %s\n", &st.drops)
	if st.dialErrs.count() > 0 || st.drops.count() > 0 {
		return errors.New("some agents failed")
	}
	return nil
}

// agentHandler gets agent i's messages other than Ping, on the goroutine
// that reads it (see herd), so it must not block. It returns false to
// have agent i read no more until the run ends, as a client stuck on a
// full socket.
type agentHandler func(i int, env codec.Envelope) bool

// openAll starts n agents, rate per second, each dialed on its own
// goroutine counted by wg and then read by a herd, until all are started
// or stop ends; agent i dials p.url(i). handle, when not nil, gets their
// messages other than Ping. The agents are closed once stop ends, and
// the herd's goroutines, counted by wg, end when they are.
func openAll(stop context.Context, p *protocol, n, rate int, st *idleState, log *slog.Logger, wg *sync.WaitGroup, handle agentHandler) error {
	for _, u := range p.urls {
		if _, err := rawURL(u); err != nil {
			return err
		}
	}
	add, err := startHerd(stop, p, n, st, log, handle, wg)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(int64(i) * int64(time.Second) / int64(rate)))
		// Sleeping below a millisecond costs more than it paces.
		if wait := time.Until(due); wait > time.Millisecond && !sleep(stop, wait) {
			return nil
		}
		wg.Go(func() {
			d, err := dialRaw(stop, p, p.url(i))
			if err == nil {
				err = add(i, d)
			}
			// A dial cut short by the end of the run is no failure.
			if err != nil && stop.Err() == nil && st.dialErrs.add(err) {
				log.Warn("dial failed (only the first is logged)", "err", err)
			}
			st.settle()
		})
	}
	return nil
}

// hold waits for d, or until ctx ends or no agent is left open.
func (s *idleState) hold(ctx context.Context, d time.Duration, log *slog.Logger) {
	log.Info("holding", "for", d)
	t := time.NewTimer(d)
	defer t.Stop()
	for s.open.Load() > 0 {
		select {
		case <-t.C:
			return
		case <-ctx.Done():
			return
		case <-s.emptied:
		}
	}
	log.Warn("no agent left open; ending the hold")
}

// logProgress logs the counts every second while they change, until stop
// ends.
func (s *idleState) logProgress(stop context.Context, log *slog.Logger) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	type counts struct{ open, dialErrs, drops int64 }
	var last counts
	for {
		select {
		case <-stop.Done():
			return
		case <-ticker.C:
		}
		now := counts{s.open.Load(), s.dialErrs.count(), s.drops.count()}
		if now != last {
			log.Info("progress", "open", now.open, "dial_failures", now.dialErrs, "unexpected_closes", now.drops)
			last = now
		}
	}
}

// sleep waits for d or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
