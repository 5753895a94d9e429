package sockets

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
)

// TestBroadcastExactlyOnceUnderChurn: while agents come and go, every
// agent that stays gets every broadcast once, in order — the fan-out over
// several goroutines included.
func TestBroadcastExactlyOnceUnderChurn(t *testing.T) {
	n := startNode(t, func(cfg *config.Config) {
		cfg.SendQueue = 1024
		// The readers expect broadcasts only: no keepalive Ping may come
		// between them, however slow the machine.
		cfg.KeepaliveInterval, cfg.KeepaliveLimit = time.Hour, 2*time.Hour
	})
	const stayers, broadcasts = 2 * fanOutShard, 30
	clients := make([]*wsClient, stayers)
	for i := range clients {
		clients[i] = dialWS(t, n, "/ws")
	}
	stop := make(chan struct{})
	var churn sync.WaitGroup
	for range 4 {
		churn.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := dialWS(t, n, "/ws")
				c.conn.CloseNow()
			}
		})
	}
	for i := range broadcasts {
		n.srv.Broadcast(encoded(n, "Seq", codec.Payload{JSON: []byte(strconv.Itoa(i))}))
	}
	close(stop)
	churn.Wait()
	var readers sync.WaitGroup
	for _, c := range clients {
		readers.Go(func() {
			for want := range broadcasts {
				var got int
				c.decodeData(c.read(), &got)
				if got != want {
					t.Errorf("%s got broadcast %d, want %d", c.id, got, want)
					return
				}
			}
		})
	}
	readers.Wait()
}

// BenchmarkBroadcast measures one broadcast to 2,000 WebSocket agents
// whose clients (in this process) read and discard: the server's time to
// hand the frame to every agent.
func BenchmarkBroadcast(b *testing.B) {
	const agents = 2000
	n := startNode(b, func(cfg *config.Config) { cfg.SendQueue = 1 << 16 })
	var readers sync.WaitGroup
	conns := make([]net.Conn, agents)
	for i := range conns {
		conn := rawWS(b, n, fmt.Sprintf("b%d", i), 0)
		conns[i] = conn
		readers.Go(func() { io.Copy(io.Discard, conn) })
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	})
	for n.srv.Len() < agents { // each registers after its handshake
		time.Sleep(time.Millisecond)
	}
	data := codec.Payload{JSON: []byte(`{"text":"a broadcast of about a hundred bytes, as the peers' benchmarks send"}`)}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if got := n.srv.Broadcast(encoded(n, "News", data)); got != agents {
			b.Fatalf("delivered %d, want %d", got, agents)
		}
	}
	b.ReportMetric(float64(b.N*agents)/time.Since(start).Seconds(), "deliveries/s")
}

// TestWelcomeComesFirst: a client's first frame is its Welcome even when
// broadcasts race its connection (DESIGN §3), on WebSocket and TCP.
func TestWelcomeComesFirst(t *testing.T) {
	n := startNode(t, nil)
	stop := make(chan struct{})
	var broadcasting sync.WaitGroup
	broadcasting.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				n.srv.Broadcast(encoded(n, "Noise", codec.Payload{JSON: []byte(`1`)}))
			}
		}
	})
	defer broadcasting.Wait()
	defer close(stop)
	for range 100 {
		dialWS(t, n, "/ws") // fails t unless the first frame is Welcome
		dialTCP(t, n)
	}
}

// TestConcurrentBroadcastsInOneOrder: broadcasts sent at once from many
// goroutines reach every agent exactly once, and in the same order at
// every agent — those that came while one was being delivered are
// delivered together, in the order they came.
func TestConcurrentBroadcastsInOneOrder(t *testing.T) {
	n := startNode(t, nil)
	const agents, broadcasts = 20, 60
	clients := make([]*wsClient, agents)
	for i := range clients {
		clients[i] = dialWS(t, n, "/ws")
	}
	var wg sync.WaitGroup
	for i := range broadcasts {
		wg.Go(func() {
			f := encoded(n, "Seq", codec.Payload{JSON: []byte(strconv.Itoa(i))})
			if got := n.srv.Broadcast(f); got != agents {
				t.Errorf("broadcast %d reached %d agents, want %d", i, got, agents)
			}
		})
	}
	wg.Wait()
	var first []string
	for i, cl := range clients {
		var order []string
		seen := make(map[string]bool)
		for range broadcasts {
			e := cl.read()
			if e.Type != "Seq" || seen[string(e.Data)] {
				t.Fatalf("agent %d got %s %s after %v", i, e.Type, e.Data, order)
			}
			seen[string(e.Data)] = true
			order = append(order, string(e.Data))
		}
		if i == 0 {
			first = order
		} else if !slices.Equal(order, first) {
			t.Fatalf("agent %d got the broadcasts in the order %v, agent 0 in %v", i, order, first)
		}
	}
}
