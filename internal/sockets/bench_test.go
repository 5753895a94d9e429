package sockets

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/config"
)

// BenchmarkWSEcho measures loopback WebSocket echo round trips with 100
// clients echoing at once (client and server in this process). It reports
// round trips per second and the p50/p99 round-trip latency.
func BenchmarkWSEcho(b *testing.B) {
	const clients = 100
	// Each client echoes as fast as it can: the rate limit is not what
	// this measures.
	n := startNode(b, func(c *config.Config) { c.RateLimit = 0 })
	conns := make([]*wsClient, clients)
	for i := range conns {
		conns[i] = dialWS(b, n, "/ws")
	}
	frame := []byte(`{"type":"Echo","data":{"Message":"hello hotpot, a message of about a hundred bytes."}}`)
	var next atomic.Int64
	latencies := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, cl := range conns {
		wg.Go(func() {
			ctx := context.Background()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := cl.conn.Write(ctx, websocket.MessageText, frame); err != nil {
					b.Error(err)
					return
				}
				if _, _, err := cl.conn.Read(ctx); err != nil {
					b.Error(err)
					return
				}
				latencies[i] = append(latencies[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}
