package sockets

import (
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// TestKeepaliveTimeline pins the seed's keepalive rules with a 200ms
// interval and a 600ms limit. Only the lower bounds are timed: a loaded
// machine may make the node late, never early.
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
		if pingAt < interval {
			t.Errorf("Ping after %v, want it after the %v interval", pingAt, interval)
		}
		code, reason := cl.expectClose()
		closedAt := time.Since(start)
		if code != websocket.StatusNormalClosure || reason != ReasonKeepaliveTimeout {
			t.Fatalf("closed with %v after Kicked %q, want 1000 after %q", code, reason, ReasonKeepaliveTimeout)
		}
		if closedAt < limit {
			t.Errorf("closed after %v, want it after the %v limit", closedAt, limit)
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

// TestEveryFrameCountsAsActivity: any frame a client sends refreshes its
// last receive time, the one keepalive goes by: a frame that fails to
// decode, an empty TCP frame and a WebSocket control frame too.
func TestEveryFrameCountsAsActivity(t *testing.T) {
	n := startNode(t, nil)
	ws := dialWS(t, n, "/ws")
	tcp := dialTCP(t, n)
	for _, tc := range []struct {
		name string
		id   string
		send func()
		read func() codec.Envelope
	}{
		{"undecodable WebSocket frame", ws.id, func() { ws.writeRaw(websocket.MessageText, []byte(`{"type":`)) }, ws.read},
		{"undecodable TCP frame", tcp.id, func() { tcp.writeFrame([]byte{0xff}) }, tcp.read},
		{"empty TCP frame", tcp.id, func() { tcp.writeRaw([]byte{0, 0}) }, tcp.read},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := n.srv.lookup(tc.id)
			before := a.lastReceive.Load()
			tc.send()
			if e := tc.read(); e.Type != "Error" || e.Code != 400 {
				t.Fatalf("got %+v, want Error 400", e)
			}
			if after := a.lastReceive.Load(); after <= before {
				t.Fatalf("last receive time %v after the frame, %v before it: the frame did not count", time.Unix(0, after), time.Unix(0, before))
			}
		})
	}
	t.Run("WebSocket Ping control frame", func(t *testing.T) {
		c := dialWireWS(t, n, "/ws?id=pinger")
		a := n.srv.lookup("pinger")
		before := a.lastReceive.Load()
		c.writeFrame(true, 0, wsproto.OpPing, []byte("p"), true)
		if _, op, _ := c.readFrame(); op != wsproto.OpPong {
			t.Fatalf("got opcode %#x, want a Pong", op)
		}
		if after := a.lastReceive.Load(); after <= before {
			t.Fatalf("last receive time %v after the Ping, %v before it: the Ping did not count", time.Unix(0, after), time.Unix(0, before))
		}
	})
}

// TestKeepaliveKickIsLogged: an agent closed for keepalive is logged with
// its id and the time of the last frame it sent.
func TestKeepaliveKickIsLogged(t *testing.T) {
	const limit = 150 * time.Millisecond
	n := startNode(t, func(c *config.Config) {
		c.KeepaliveInterval = 50 * time.Millisecond
		c.KeepaliveLimit = limit
	})
	cl := dialTCP(t, n)
	sent := time.Now()
	cl.write(codec.Envelope{Type: "Pong"}) // the last frame it sends: nothing answers it
	if reason := cl.expectClose(); reason != ReasonKeepaliveTimeout {
		t.Fatalf("Kicked %q, want %q", reason, ReasonKeepaliveTimeout)
	}
	kicked := time.Now()
	rec := n.logs.waitFor(t, func(r logRecord) bool { return r["msg"] == "closing idle agent" })
	if rec["agent"] != cl.id {
		t.Errorf("logged agent %v, want %s", rec["agent"], cl.id)
	}
	s, _ := rec["last_receive"].(string)
	last, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("last_receive %v: %v", rec["last_receive"], err)
	}
	// The last frame came after sent, and the agent was idle for the limit
	// before it was kicked.
	if last.Before(sent) || last.After(kicked.Add(-limit)) {
		t.Errorf("logged last receive %v, want the Pong's, sent at %v (kicked at %v)", last, sent, kicked)
	}
}

// TestIdleTimeCountsFromWelcome: a TCP client's time to authenticate does
// not count as idle. One that sends Auth late, then stays silent, gets
// its Ping no sooner than --keepalive-interval after Welcome and Kicked
// no sooner than --keepalive-limit after it. Only lower bounds are
// timed: a loaded machine may make the node late, never early.
func TestIdleTimeCountsFromWelcome(t *testing.T) {
	const interval, limit = 200 * time.Millisecond, 600 * time.Millisecond
	n := startNode(t, func(c *config.Config) {
		c.JWTSecret = jwtSecret
		c.KeepaliveInterval = interval
		c.KeepaliveLimit = limit
	})
	cl := dialTCPRaw(t, n)
	time.Sleep(limit * 6 / 10) // the client takes its time to authenticate
	cl.write(codec.Envelope{Type: "Auth", Data: []byte(`{"token":"` + token(t, jwt.MapClaims{"sub": "late", "exp": inAnHour()}) + `"}`)})
	if w := cl.read(); w.Type != "Welcome" {
		t.Fatalf("got %+v, want Welcome", w)
	}
	welcomed := time.Now()
	if e := cl.read(); e.Type != "Ping" {
		t.Fatalf("got %+v, want Ping", e)
	}
	if pinged := time.Since(welcomed); pinged < interval {
		t.Errorf("Ping %v after Welcome, want at least the %v interval", pinged, interval)
	}
	if reason := cl.expectClose(); reason != ReasonKeepaliveTimeout {
		t.Fatalf("closed after Kicked %q, want %q", reason, ReasonKeepaliveTimeout)
	}
	if closed := time.Since(welcomed); closed < limit {
		t.Errorf("closed %v after Welcome, want at least the %v limit", closed, limit)
	}
}
