package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// callRun measures REST calls answered by WebSocket agents: agents that
// reply to every call at once, and HTTP workers that each keep one
// POST /agents/{id}/call in flight, spreading calls over the agents.
type callRun struct {
	dial    dialFlags
	api     apiFlags
	agents  int
	workers int
	dur     time.Duration
}

func setupCall(fs *flag.FlagSet) runFunc {
	r := &callRun{}
	r.dial.register(fs)
	r.api.register(fs)
	fs.IntVar(&r.agents, "agents", 100, "WebSocket agents answering calls")
	fs.IntVar(&r.workers, "c", 32, "HTTP workers (connections), each with one call in flight")
	fs.DurationVar(&r.dur, "d", 10*time.Second, "how long to call, once all agents have connected")
	return r.run
}

func (r *callRun) run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	switch {
	case r.agents < 1 || r.workers < 1:
		return fmt.Errorf("-agents %d, -c %d: want at least 1 each", r.agents, r.workers)
	case r.dur <= 0:
		return fmt.Errorf("-d %v: must be positive", r.dur)
	}
	ids := make([]string, r.agents)
	agents := make([]*agent, r.agents)
	for i := range ids {
		// Each agent asks for its own id, so the workers know whom to call.
		ids[i] = fmt.Sprintf("loadgen-call-%d", i)
		d := r.dial
		d.url = withID(r.dial.url, ids[i])
		proto, err := d.protocol()
		if err == nil {
			agents[i], err = dialAgent(ctx, proto)
		}
		if err != nil {
			closeAll(agents)
			return fmt.Errorf("agent %s: %w", ids[i], err)
		}
	}
	log.Info("agents connected", "agents", len(agents))

	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	var errs failures
	var served sync.WaitGroup
	for _, a := range agents {
		served.Go(func() {
			err := a.serve(stop, func(env codec.Envelope, _ []byte) {
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
			})
			if err != nil {
				errs.add(err)
			}
		})
	}

	log.Info("calling", "for", r.dur, "workers", r.workers)
	window, stopCalls := context.WithTimeout(ctx, r.dur)
	defer stopCalls()
	httpClient := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: r.workers, MaxConnsPerHost: r.workers},
	}
	parts := make([]latencies, r.workers)
	var workers sync.WaitGroup
	start := time.Now()
	for w := range r.workers {
		workers.Go(func() { parts[w] = r.callWorker(window, httpClient, ids, w, &errs) })
	}
	workers.Wait()
	elapsed := time.Since(start)
	cancel()
	served.Wait()

	fmt.Fprintf(out, "agents       %d, HTTP workers %d\n", len(agents), r.workers)
	summarize(parts).report(out, elapsed)
	fmt.Fprintf(out, "errors       %s\n", &errs)
	if errs.count() > 0 {
		return errors.New("some calls failed")
	}
	return nil
}

// callWorker calls agents in turn, starting at the worker's own offset,
// until window ends, and returns the calls' durations.
func (r *callRun) callWorker(window context.Context, c *http.Client, ids []string, w int, errs *failures) latencies {
	body := []byte(`{"type":"Work","data":{"n":1},"timeout_ms":5000}`)
	var lat latencies
	for i := w; window.Err() == nil; i++ {
		req, err := r.api.post(window, "/agents/"+ids[i%len(ids)]+"/call", body)
		if err != nil {
			errs.add(err)
			return lat
		}
		sent := time.Now()
		res, err := c.Do(req)
		if err != nil {
			if window.Err() == nil {
				errs.add(err)
			}
			return lat
		}
		reply, err := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case err != nil:
			errs.add(err)
		case res.StatusCode != http.StatusOK:
			errs.add(fmt.Errorf("%s: %.200s", res.Status, reply))
		default:
			lat.add(time.Since(sent))
		}
	}
	return lat
}

// withID adds ?id= to a WebSocket URL.
func withID(wsURL, id string) string {
	sep := "?"
	if strings.Contains(wsURL, "?") {
		sep = "&"
	}
	return wsURL + sep + "id=" + url.QueryEscape(id)
}

// closeAll releases the agents dialed so far.
func closeAll(agents []*agent) {
	for _, a := range agents {
		if a != nil {
			a.release()
		}
	}
}
