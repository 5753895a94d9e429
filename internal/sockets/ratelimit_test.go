package sockets

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// TestBucket pins the bucket's arithmetic at chosen times: 10 frames a
// second (one every 100 ms), a burst of 3.
func TestBucket(t *testing.T) {
	const ms = time.Millisecond
	l := rateLimit{perNs: 10 / float64(time.Second), burst: 3}
	b := l.fill(0)
	for i, step := range []struct {
		at       time.Duration
		ok, kick bool
	}{
		{0, true, false}, {0, true, false}, {0, true, false}, // the burst
		{0, false, false},       // empty: refused 1
		{50 * ms, false, false}, // half a token: refused 2
		{100 * ms, true, false}, // a whole one, 100 ms after the start; the count goes on
		{100 * ms, false, false},
		{100 * ms, false, true},  // refused 4 = burst+1 since the bucket was full: kick
		{100 * ms, false, false}, // once
		{90 * ms, false, false},  // a clock that goes back refills nothing
		{400 * ms, true, false},  // full again: the count starts over
		{400 * ms, true, false}, {400 * ms, true, false},
		{400 * ms, false, false}, {400 * ms, false, false}, {400 * ms, false, false},
		{400 * ms, false, true},
	} {
		ok, kick := l.take(&b, step.at)
		if ok != step.ok || kick != step.kick {
			t.Fatalf("step %d at %v: ok %v, kick %v; want %v, %v", i, step.at, ok, kick, step.ok, step.kick)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { l.take(&b, time.Hour) }); allocs != 0 {
		t.Fatalf("take allocates %v times a frame", allocs)
	}
}

// Rate limit of the nodes of the tests below: one frame every 100 ms, 4
// at once.
const testRate, testBurst = 10, 4

func startLimitedNode(t *testing.T) *testNode {
	return startNode(t, func(c *config.Config) {
		c.RateLimit = testRate
		c.RateBurst = testBurst
	})
}

// dialEither connects a client of transport to n.
func dialEither(t *testing.T, n *testNode, transport, id string) envelopeClient {
	t.Helper()
	if transport == TransportWS {
		return dialWS(t, n, "/ws?id="+id)
	}
	return dialTCP(t, n)
}

// expectRateLimited reads an Error 429 that refuses a frame.
func expectRateLimited(t *testing.T, cl envelopeClient) {
	t.Helper()
	if e := cl.read(); e.Type != "Error" || e.Code != 429 || !strings.HasPrefix(e.Msg, "rate limited: ") {
		t.Fatalf("got %s %d %q, want Error 429 \"rate limited: …\"", e.Type, e.Code, e.Msg)
	}
}

// expectSpentBucket checks that a client just connected has its id's
// spent bucket, not a full one.
func expectSpentBucket(t *testing.T, cl envelopeClient) {
	t.Helper()
	cl.write(codec.Envelope{Type: "Ping"})
	if e := cl.read(); e.Type == "Pong" {
		// The bucket may have earned a token meanwhile (one per 100 ms): then
		// the next frame at once must find it empty.
		cl.write(codec.Envelope{Type: "Ping"})
		cl.write(codec.Envelope{Type: "Ping"})
		if e := cl.read(); e.Type == "Pong" {
			expectRateLimited(t, cl)
		} else if e.Type != "Error" || e.Code != 429 {
			t.Fatalf("got %s %d %q, want Error 429", e.Type, e.Code, e.Msg)
		}
	} else if e.Type != "Error" || e.Code != 429 {
		t.Fatalf("got %s %d %q on connecting again with a spent bucket, want Error 429", e.Type, e.Code, e.Msg)
	}
}

// TestRateLimitSurvivesReplacing: a client that ran out of its bucket and
// connects again with its id while its first connection is still open
// does not start with a full bucket either.
func TestRateLimitSurvivesReplacing(t *testing.T) {
	n := startLimitedNode(t)
	first := dialWS(t, n, "/ws?id=twice")
	for range testBurst + 1 {
		first.write(codec.Envelope{Type: "Ping"})
	}
	for range testBurst {
		if e := first.read(); e.Type != "Pong" {
			t.Fatalf("got %s %d %q, want Pong", e.Type, e.Code, e.Msg)
		}
	}
	expectRateLimited(t, first)
	second := dialWS(t, n, "/ws?id=twice") // replaces first, still open
	expectSpentBucket(t, second)
}

// waitForTokens waits until the bucket of an agent that has just spent
// it has refilled k tokens. The bucket is arithmetic on the frames' times:
// once that long has passed, the tokens are there.
func waitForTokens(k int) {
	time.Sleep(time.Duration(k)*time.Second/testRate + 20*time.Millisecond)
}

// expectEchoOf sends an Echo with marker and reads it back first: no frame
// refused before it was handled after all.
func expectEchoOf(t *testing.T, cl envelopeClient, marker string) {
	t.Helper()
	data := []byte(`{"marker":"` + marker + `"}`)
	cl.write(codec.Envelope{Type: "Echo", Data: data})
	if e := cl.read(); e.Type != "Echo" || string(e.Data) != string(data) {
		t.Fatalf("got %s %s, want the Echo of %s", e.Type, e.Data, data)
	}
}

// TestRateLimitRefusesTheExcess: of burst+1 frames sent at once, whatever
// their type, the last is answered with Error 429 and not handled — no
// answer, no agent.message — and the connection stays.
func TestRateLimitRefusesTheExcess(t *testing.T) {
	n := startLimitedNode(t)
	for _, tc := range []struct {
		typ    string
		answer string // what the node answers a handled frame with
	}{
		{"Echo", "Echo"},
		{"Ping", "Pong"},
		{"Pong", ""},
		{"Reply", ""}, // to no call: dropped
		{"Chat", ""},  // an agent.message
	} {
		for _, transport := range []string{TransportWS, TransportTCP} {
			t.Run(tc.typ+"/"+transport, func(t *testing.T) {
				t.Parallel()
				cl := dialEither(t, n, transport, "excess-"+tc.typ)
				for i := range testBurst + 1 {
					cl.write(codec.Envelope{Type: tc.typ, ID: fmt.Sprint(i), Data: []byte(`{}`)})
				}
				if tc.answer != "" {
					for range testBurst {
						if e := cl.read(); e.Type != tc.answer {
							t.Fatalf("got %s %d %q, want %s", e.Type, e.Code, e.Msg, tc.answer)
						}
					}
				}
				expectRateLimited(t, cl)
				waitForTokens(1)
				expectEchoOf(t, cl, "after")
				if tc.typ == "Chat" {
					messages := 0
					for _, e := range n.events.snapshot() {
						if e.Type == events.Message && e.MessageType == "Chat" && e.Agent == agentID(cl) {
							messages++
						}
					}
					if messages != testBurst {
						t.Fatalf("%d agent.message events, want %d", messages, testBurst)
					}
				}
			})
		}
	}
}

// agentID is the id a test client was welcomed with.
func agentID(cl envelopeClient) string {
	switch cl := cl.(type) {
	case *wsClient:
		return cl.id
	case *tcpClient:
		return cl.id
	}
	panic("unknown client")
}

// TestRateLimitKicksAFlood: a client that keeps sending over the limit has
// burst+1 frames refused, then is closed with Kicked "rate limited"
// (WebSocket close 1008) and agent.disconnected says so.
func TestRateLimitKicksAFlood(t *testing.T) {
	n := startLimitedNode(t)
	for _, transport := range []string{TransportWS, TransportTCP} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			cl := dialEither(t, n, transport, "flood")
			for range 2*testBurst + 2 {
				cl.write(codec.Envelope{Type: "Ping"})
			}
			for range testBurst {
				if e := cl.read(); e.Type != "Pong" {
					t.Fatalf("got %s %d %q, want Pong", e.Type, e.Code, e.Msg)
				}
			}
			for range testBurst + 1 {
				expectRateLimited(t, cl)
			}
			if e := cl.read(); e.Type != "Kicked" || !strings.Contains(string(e.Data), `"reason":"rate limited"`) {
				t.Fatalf("got %s %s, want Kicked rate limited", e.Type, e.Data)
			}
			switch cl := cl.(type) {
			case *wsClient:
				if code, _ := cl.expectClose(); code != websocket.StatusPolicyViolation {
					t.Fatalf("close %v, want 1008", code)
				}
			case *tcpClient:
				cl.expectClose()
			}
			n.events.waitFor(t, func(e events.Event) bool {
				return e.Type == events.Disconnected && e.Agent == agentID(cl) && e.Reason == ReasonRateLimited
			})
		})
	}
}

// TestRateLimitForgivesBursts: a client that goes over the limit now and
// then, but lets its bucket fill up in between, loses only its excess
// frames, never its connection — though more than burst+1 are refused
// over its life.
func TestRateLimitForgivesBursts(t *testing.T) {
	n := startLimitedNode(t)
	cl := dialTCP(t, n)
	for round := range 3 {
		for range testBurst + 2 {
			cl.write(codec.Envelope{Type: "Echo", Data: []byte(`{}`)})
		}
		for range testBurst {
			if e := cl.read(); e.Type != "Echo" {
				t.Fatalf("round %d: got %s %d %q, want Echo", round, e.Type, e.Code, e.Msg)
			}
		}
		expectRateLimited(t, cl)
		expectRateLimited(t, cl)
		waitForTokens(testBurst)
	}
	expectEchoOf(t, cl, "still here")
}

// TestRateLimitOff: --rate-limit 0 lets a client send as fast as it likes.
func TestRateLimitOff(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.RateLimit = 0 })
	cl := dialTCP(t, n)
	const frames = 1000
	var all []byte
	for range frames {
		all = appendFrame(all, seedEcho, cl.lenBytes)
	}
	cl.writeRaw(all)
	for i := range frames {
		if e := cl.read(); e.Type != "Echo" {
			t.Fatalf("frame %d: got %s %d %q, want Echo", i, e.Type, e.Code, e.Msg)
		}
	}
}

// TestRateLimitSurvivesReconnecting: an agent that reconnects gets its
// spent bucket back, not a full one — a flooder kicked for its rate does
// not refill it by dialing again — until the bucket would be full anyway.
func TestRateLimitSurvivesReconnecting(t *testing.T) {
	n := startLimitedNode(t)
	cl := dialWS(t, n, "/ws?id=again")
	for range testBurst {
		cl.write(codec.Envelope{Type: "Ping"})
	}
	for range testBurst {
		if e := cl.read(); e.Type != "Pong" {
			t.Fatalf("got %s %d %q, want Pong", e.Type, e.Code, e.Msg)
		}
	}
	leave := func(cl *wsClient, times int) { // closes cl, and waits for the node to see it
		t.Helper()
		cl.conn.Close(websocket.StatusNormalClosure, "")
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			seen := 0
			for _, e := range n.events.snapshot() {
				if e.Type == events.Disconnected && e.Agent == "again" {
					seen++
				}
			}
			if seen == times {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d disconnects of again, want %d", seen, times)
			}
		}
	}
	leave(cl, 1)

	cl = dialWS(t, n, "/ws?id=again")
	expectSpentBucket(t, cl)
	leave(cl, 2)

	waitForTokens(testBurst) // full again: forgotten
	cl = dialWS(t, n, "/ws?id=again")
	for range testBurst {
		cl.write(codec.Envelope{Type: "Ping"})
	}
	for range testBurst {
		if e := cl.read(); e.Type != "Pong" {
			t.Fatalf("got %s %d %q after the bucket refilled, want Pong", e.Type, e.Code, e.Msg)
		}
	}
}

// TestRateLimitCountsControlFrames: a WebSocket client's Pings and Pongs
// take tokens as its messages do, so a flood of them ends as a flood of
// messages does. Of 3×burst sent at once, the first burst are handled (a
// Ping gets its Pong); the next burst+1 get Error 429 and no Pong; then
// Kicked "rate limited" and close 1008, and nothing more: the node does
// not answer the rest.
func TestRateLimitCountsControlFrames(t *testing.T) {
	n := startLimitedNode(t)
	for _, tc := range []struct {
		name   string
		opcode byte
		answer byte // the opcode of the answer to a handled frame; 0 for none
	}{
		{"Ping", wsproto.OpPing, wsproto.OpPong},
		{"Pong", wsproto.OpPong, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialWireWS(t, n, "/ws?id=control-"+tc.name)
			var flood []byte
			for i := range 3 * testBurst {
				flood = append(flood, wireFrame(true, 0, tc.opcode, []byte(strconv.Itoa(i)), true)...)
			}
			c.write(flood)
			if tc.answer != 0 {
				for i := range testBurst {
					if fin, op, got := c.readFrame(); !fin || op != tc.answer || string(got) != strconv.Itoa(i) {
						t.Fatalf("frame %d: got fin=%v opcode %#x %q, want a final %#x %q", i, fin, op, got, tc.answer, strconv.Itoa(i))
					}
				}
			}
			for i := range testBurst + 1 {
				_, op, got := c.readFrame()
				e, err := codec.JSON.Decode(got)
				if op != wsproto.OpText || err != nil || e.Type != "Error" || e.Code != 429 {
					t.Fatalf("refused frame %d: got opcode %#x %q, want the text of an Error 429", i, op, got)
				}
			}
			_, op, got := c.readFrame()
			if e, err := codec.JSON.Decode(got); op != wsproto.OpText || err != nil || e.Type != "Kicked" || !strings.Contains(string(e.Data), `"reason":"rate limited"`) {
				t.Fatalf("got opcode %#x %q, want Kicked rate limited", op, got)
			}
			if _, op, got := c.readFrame(); op != wsproto.OpClose || len(got) < 2 || binary.BigEndian.Uint16(got) != 1008 {
				t.Fatalf("got opcode %#x %q, want a Close of code 1008", op, got)
			}
			c.writeFrame(true, 0, wsproto.OpClose, wireClose(1008, ""), true)
			c.expectEnd() // nothing sent after the Close
			if reason := waitGone(t, n, c.id); reason != ReasonRateLimited {
				t.Fatalf("agent.disconnected reason %q, want %q", reason, ReasonRateLimited)
			}
		})
	}
}
