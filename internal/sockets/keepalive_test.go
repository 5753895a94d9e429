package sockets

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

// TestKeepaliveTimeline pins the seed's keepalive rules with a 200ms
// interval and a 600ms limit.
func TestKeepaliveTimeline(t *testing.T) {
	const interval, limit = 200 * time.Millisecond, 600 * time.Millisecond
	n := startNode(t, func(c *config.Config) {
		c.KeepaliveInterval = interval
		c.KeepaliveLimit = limit
	})

	t.Run("silent client is pinged, then kicked", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		cl := dialWS(t, n, "/ws?id=silent")
		ping := cl.read()
		pingAt := time.Since(start)
		if ping.Type != "Ping" || string(ping.Data) != "{}" {
			t.Fatalf("got %+v, want Ping {}", ping)
		}
		if pingAt < interval || pingAt > 2*interval+150*time.Millisecond {
			t.Errorf("Ping after %v, want between %v and %v", pingAt, interval, 2*interval)
		}
		code, reason := cl.expectClose()
		closedAt := time.Since(start)
		if code != websocket.StatusNormalClosure || reason != ReasonKeepaliveTimeout {
			t.Fatalf("closed with %v after Kicked %q, want 1000 after %q", code, reason, ReasonKeepaliveTimeout)
		}
		if closedAt < limit || closedAt > limit+interval+300*time.Millisecond {
			t.Errorf("closed after %v, want between %v and %v", closedAt, limit, limit+interval)
		}
		n.events.waitFor(t, func(e events.Event) bool {
			return e.Type == events.Disconnected && e.Agent == "silent" && e.Reason == ReasonKeepaliveTimeout
		})
	})

	t.Run("client answering Pong stays", func(t *testing.T) {
		t.Parallel()
		cl := dialWS(t, n, "/ws")
		stayUntil := time.Now().Add(3 * limit)
		pings := 0
		for time.Now().Before(stayUntil) {
			e := cl.read()
			if e.Type != "Ping" {
				t.Fatalf("got %+v, want only Pings", e)
			}
			pings++
			cl.write(codec.Envelope{Type: "Pong"})
		}
		if pings < 2 {
			t.Fatalf("%d Pings in %v", pings, 3*limit)
		}
	})

	t.Run("client sending anything stays", func(t *testing.T) {
		t.Parallel()
		cl := dialTCP(t, n)
		for range 3 * int(limit/(interval/2)) {
			cl.writeFrame(seedEcho)
			for {
				if e := cl.read(); e.Type == "Echo" {
					break
				}
			}
			time.Sleep(interval / 2)
		}
		if n.srv.lookup(cl.id) == nil {
			t.Fatal("active client was dropped")
		}
	})
}
