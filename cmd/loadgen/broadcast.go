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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// broadcastRun measures how long broadcasts take to reach many agents:
// n WebSocket agents listen while POST /broadcast sends a stamped event
// every interval; each agent records the delay of every event it gets
// (node, agents and broadcaster share this machine's clock), and what
// the node said it delivered but never arrived counts as lost.
type broadcastRun struct {
	dial    dialFlags
	api     apiFlags
	n, rate int
	every   time.Duration
	dur     time.Duration
}

func setupBroadcast(fs *flag.FlagSet) runFunc {
	r := &broadcastRun{}
	r.dial.register(fs)
	r.api.register(fs)
	fs.IntVar(&r.n, "n", 1000, "agents listening")
	fs.IntVar(&r.rate, "rate", 1000, "new connections started per second")
	fs.DurationVar(&r.every, "every", 100*time.Millisecond, "time between broadcasts")
	fs.DurationVar(&r.dur, "d", 10*time.Second, "how long to broadcast, once all agents have connected")
	return r.run
}

// benchType is the type of the stamped events.
const benchType = "BroadcastBench"

func (r *broadcastRun) run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	switch {
	case r.n < 1 || r.rate < 1:
		return fmt.Errorf("-n %d, -rate %d: want at least 1 each", r.n, r.rate)
	case r.every <= 0 || r.dur <= 0:
		return fmt.Errorf("-every %v, -d %v: must be positive", r.every, r.dur)
	}
	proto, err := r.dial.protocol()
	if err != nil {
		return err
	}
	st := &idleState{n: r.n, ready: make(chan struct{}), emptied: make(chan struct{}, 1)}
	stop, cancel := context.WithCancel(ctx)
	defer cancel()

	// Each agent records into its own slice, on its own read goroutine.
	parts := make([]latencies, r.n)
	var received atomic.Int64
	handler := func(i int) func(env codec.Envelope, _ []byte) {
		return func(env codec.Envelope, _ []byte) {
			if env.Type != benchType {
				return
			}
			sent, err := stampOf(proto.codec, env.Data)
			if err != nil {
				return
			}
			parts[i].add(time.Since(time.Unix(0, sent)))
			received.Add(1)
		}
	}
	var wg sync.WaitGroup
	log.Info("connecting", "url", r.dial.url, "agents", r.n, "rate", r.rate)
	openAll(stop, proto, r.n, r.rate, st, log, &wg, handler)
	select {
	case <-st.ready:
	case <-ctx.Done():
		cancel()
		wg.Wait()
		return ctx.Err()
	}
	log.Info("broadcasting", "every", r.every, "for", r.dur, "agents", st.open.Load())

	httpClient := &http.Client{Timeout: 10 * time.Second}
	var delivered, sent int64
	var errs failures
	tick := time.NewTicker(r.every)
	window := time.NewTimer(r.dur)
	start := time.Now()
loop:
	for {
		select {
		case <-tick.C:
			n, err := r.broadcast(ctx, httpClient)
			if err != nil {
				errs.add(err)
				continue
			}
			sent++
			delivered += int64(n)
		case <-window.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	// Let the last events arrive before counting.
	for deadline := time.Now().Add(2 * time.Second); received.Load() < delivered && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()

	fmt.Fprintf(out, "agents       %d, %d broadcasts in %v (%.1f/s)\n", r.n, sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds())
	fmt.Fprintf(out, "deliveries   %d promised by the node, %d received, %d lost\n", delivered, received.Load(), delivered-received.Load())
	s := summarize(parts)
	fmt.Fprintf(out, "delay        p50 %v  p90 %v  p99 %v  max %v\n",
		roundLatency(s.p50), roundLatency(s.p90), roundLatency(s.p99), roundLatency(s.max))
	fmt.Fprintf(out, "errors       %s, unexpected closes %s\n", &errs, &st.drops)
	if errs.count() > 0 || received.Load() < delivered {
		return errors.New("some broadcasts failed or were lost")
	}
	return nil
}

// broadcast sends one stamped event and returns how many agents the node
// delivered it to.
func (r *broadcastRun) broadcast(ctx context.Context, c *http.Client) (int, error) {
	body := []byte(`{"type":"` + benchType + `","data":{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}}`)
	req, err := r.api.post(ctx, "/broadcast", body)
	if err != nil {
		return 0, err
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var result struct{ Delivered int }
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return 0, fmt.Errorf("%s: %.200s", res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(&result); err != nil {
		return 0, err
	}
	return result.Delivered, nil
}

// stampOf reads the send time out of a benchmark event's data.
func stampOf(c codec.Codec, data []byte) (int64, error) {
	p, err := c.Payload(data)
	if err != nil {
		return 0, err
	}
	raw := p.Raw()
	var d struct{ T int64 }
	err = json.Unmarshal(raw, &d)
	return d.T, err
}
