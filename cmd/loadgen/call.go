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

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// callRun measures REST calls answered by WebSocket agents: agents that
// reply to every call at once, and HTTP workers that each keep one
// POST /agents/{id}/call in flight, spreading calls over the agents.
type callRun struct {
	agentLoad
}

func setupCall(fs *flag.FlagSet) runFunc {
	r := &callRun{}
	r.register(fs, "WebSocket agents answering calls")
	return r.run
}

// callBody is the body of every call.
var callBody = []byte(`{"type":"Work","data":{"n":1},"timeout_ms":5000}`)

func (r *callRun) run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	if err := r.check(); err != nil {
		return err
	}
	proto, err := r.dial.protocol()
	if err != nil {
		return err
	}
	ids, agents, err := dialNamed(ctx, proto, "loadgen-call", r.agents)
	if err != nil {
		return err
	}
	log.Info("agents connected", "agents", len(agents), "urls", len(proto.urls))

	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	var errs failures
	var served sync.WaitGroup
	serveAll(stop, agents, &served, func(_ int, a *agent) func(codec.Envelope, []byte) {
		return func(env codec.Envelope, _ []byte) {
			if env.ID == "" {
				return
			}
			reply, err := a.proto.codec.Encode(codec.Envelope{Type: "Reply", ID: env.ID, Data: env.Data})
			if err == nil {
				err = a.write(reply)
			}
			if err != nil && stop.Err() == nil {
				errs.add(fmt.Errorf("replying: %w", err))
			}
		}
	}, &errs)

	if err := r.meter.begin(log, "for", r.dur, "workers", r.workers); err != nil {
		return err
	}
	window, stopCalls := context.WithTimeout(ctx, r.dur)
	defer stopCalls()
	p := r.poster(ids, "call", func() []byte { return callBody }, http.StatusOK, &errs, &errs)
	parts, elapsed := p.run(ctx, window, r.workers)
	serverCPU, err := r.meter.end(log)
	if err != nil {
		return err
	}
	cancel()
	served.Wait()

	fmt.Fprintf(out, "agents       %d%s, HTTP workers %d\n", len(agents), proto.spread(), r.workers)
	s := summarize(parts)
	s.report(out, elapsed)
	fmt.Fprintf(out, "errors       %s\n", &errs)
	result{Mode: "call", Ops: int64(s.count), PerSecond: perSecond(int64(s.count), elapsed),
		P50MS: ms(s.p50), P99MS: ms(s.p99), Failed: errs.count()}.write(out, serverCPU)
	if errs.count() > 0 {
		return errors.New("some calls failed")
	}
	return nil
}
