package main

import (
	"context"
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

// pushRun measures events pushed to one agent each: HTTP workers that
// each keep one POST /agents/{id}/events in flight, spreading pushes over
// the agents, and agents that measure each event's delay on arrival. A
// node answers 202 once the event is queued for the agent (by the agent's
// own node, in a cluster), so every event accepted should arrive.
type pushRun struct {
	agentLoad
}

func setupPush(fs *flag.FlagSet) runFunc {
	r := &pushRun{}
	r.register(fs, "WebSocket agents receiving events")
	return r.run
}

// pushType is the type of the pushed events.
const pushType = "PushBench"

func (r *pushRun) run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	if err := r.check(); err != nil {
		return err
	}
	proto, err := r.dial.protocol()
	if err != nil {
		return err
	}
	ids, agents, err := dialNamed(ctx, proto, "loadgen-push", r.agents)
	if err != nil {
		return err
	}
	log.Info("agents connected", "agents", len(agents), "urls", len(proto.urls))

	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	// Each agent records the delays of its events on its own read
	// goroutine, into its own part.
	delays := make([]latencies, len(agents))
	var received atomic.Int64
	var errs, rejected, drops failures
	var served sync.WaitGroup
	serveAll(stop, agents, &served, func(i int, a *agent) func(codec.Envelope, []byte) {
		return func(env codec.Envelope, _ []byte) {
			if env.Type != pushType {
				return
			}
			s, err := stampOf(a.proto.codec, env.Data)
			if err != nil {
				errs.add(fmt.Errorf("%s data: %w", pushType, err))
				return
			}
			delays[i].add(s.delay())
			received.Add(1)
		}
	}, &drops)

	if err := r.meter.begin(log, "for", r.dur, "workers", r.workers); err != nil {
		return err
	}
	window, stopPushes := context.WithTimeout(ctx, r.dur)
	defer stopPushes()
	var seq atomic.Int64
	body := func() []byte { return stampedEvent(pushType, seq.Add(1)) }
	p := r.poster(ids, "events", body, http.StatusAccepted, &rejected, &errs)
	answers, elapsed := p.run(ctx, window, r.workers)
	ans := summarize(answers)
	accepted := int64(ans.count)
	awaitArrivals(ctx, received.Load, accepted, 2*time.Second)
	serverCPU, err := r.meter.end(log)
	if err != nil {
		return err
	}
	cancel()
	served.Wait()

	got := received.Load()
	fmt.Fprintf(out, "agents       %d%s, HTTP workers %d\n", len(agents), proto.spread(), r.workers)
	fmt.Fprintf(out, "pushes       %d answered 202 in %v: %.0f pushes/s\n", accepted, elapsed.Round(time.Millisecond), perSecond(accepted, elapsed))
	fmt.Fprintf(out, "answer       %s\n", ans)
	fmt.Fprintf(out, "delay        %s (push → receive)\n", summarize(delays))
	fmt.Fprintf(out, "events       %d accepted, %d received, %d never received\n", accepted, got, max(accepted-got, 0))
	fmt.Fprintf(out, "rejected     %s (answers other than 202)\n", &rejected)
	fmt.Fprintf(out, "errors       %s, unexpected closes %s\n", &errs, &drops)
	d := summarize(delays)
	result{Mode: "push", Ops: accepted, PerSecond: perSecond(accepted, elapsed), P50MS: ms(d.p50), P99MS: ms(d.p99),
		Lost: max(accepted-got, 0), Failed: rejected.count() + errs.count(), AgentsClosed: drops.count()}.write(out, serverCPU)
	if rejected.count() > 0 || errs.count() > 0 || drops.count() > 0 || got < accepted {
		return errors.New("some pushes failed or were lost")
	}
	return nil
}
