package sockets

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/wsproto"
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

// BenchmarkListPage measures one page of 100 of a node's 100,000 agents
// (agents without connections, put in the index directly): a page costs
// its own size, not the node's agents.
func BenchmarkListPage(b *testing.B) {
	s := &Server{ordered: newAgentIndex()}
	for i := range 100_000 {
		a := &agent{srv: s, id: fmt.Sprintf("agent-%06d", i), codec: codec.JSON}
		s.ordered.ReplaceOrInsert(a)
	}
	b.ResetTimer()
	for i := range b.N {
		after := fmt.Sprintf("agent-%06d", i%99_000)
		if items, more := s.List("", after, 100); len(items) != 100 || !more {
			b.Fatalf("page after %s: %d items, more %v", after, len(items), more)
		}
	}
}

// BenchmarkWSReadFrame measures the node's reading of a client's
// messages, a 100-byte masked text frame each, from a buffered
// connection: the frame header's parsing, unmasking and UTF-8 check.
func BenchmarkWSReadFrame(b *testing.B) {
	frame := wireFrame(true, 0, wsproto.OpText, bytes.Repeat([]byte("x"), 100), true)
	in := bytes.Repeat(frame, 1000)
	r := bytes.NewReader(in)
	conn := &scriptedConn{in: r}
	br := bufio.NewReaderSize(conn, connBufferBytes)
	l := newWSLink(conn, br, false, 1<<16)
	b.SetBytes(int64(len(frame)))
	for i := 0; b.Loop(); i++ {
		if i%1000 == 0 {
			r.Reset(in)
			br.Reset(conn)
		}
		fb, err := l.readFrame()
		if err != nil {
			b.Fatal(err)
		}
		fb.release()
	}
}
