package httpapi

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

func TestEventsLifecycle(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	s := openEvents(t, n, nil) // headers came before any event: nothing has happened yet
	if cc := s.resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}

	before := time.Now().Add(-time.Second)
	cli := dialWS(t, n, "?id=life")
	cli.send(msg{Type: "Chat", ID: "m1", Data: []byte(`{"text":"hi"}`)})
	cli.send(msg{Type: "Echo", Data: []byte(`1`)})
	if m := cli.recv(); m.Type != "Echo" {
		t.Fatalf("got %+v, want Echo", m)
	}
	cli.roundTrip() // built-in types are not events
	if res, err := n.client(t).KickAgentWithResponse(t.Context(), "life", &client.KickAgentParams{Reason: ptr("bye")}); err != nil || res.StatusCode() != http.StatusNoContent {
		t.Fatalf("kick: %v %v", err, res.Status())
	}
	cli.expectClose()

	want := []string{"agent.connected", "agent.message", "agent.disconnected"}
	var prev sseEvent
	for i, typ := range want {
		ev := s.nextEvent()
		d := ev.agentEvent(t)
		if ev.Event != typ {
			t.Fatalf("event %d is %s %s, want %s", i, ev.Event, ev.Data, typ)
		}
		if d.Agent != "life" || d.Node != "test-node" || d.TS.Before(before) || d.TS.After(time.Now()) {
			t.Errorf("%s: agent %q node %q ts %v, want life, test-node, now", typ, d.Agent, d.Node, d.TS)
		}
		if i > 0 && !idLess(prev.ID, ev.ID) {
			t.Errorf("event ids %s then %s, want increasing", prev.ID, ev.ID)
		}
		switch typ {
		case "agent.message":
			if d.Type == nil || *d.Type != "Chat" || d.ID == nil || *d.ID != "m1" || !jsonEqual(t, d.Data, []byte(`{"text":"hi"}`)) {
				t.Errorf("message event %s, want type Chat, id m1, data", ev.Data)
			}
		case "agent.disconnected":
			if d.Reason == nil || *d.Reason != "bye" {
				t.Errorf("disconnected event %s, want reason bye", ev.Data)
			}
		}
		prev = ev
	}
}

func TestEventsMessageData(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	s := openEvents(t, n, &client.StreamEventsParams{Types: &[]client.EventType{client.EventTypeAgentMessage}})
	cases := []struct {
		cli  agentConn
		data []byte
		raw  bool // a proto client's: data_base64
	}{
		{dialWS(t, n, ""), []byte(`{"a":[1,"b",null]}`), false},
		{dialWS(t, n, "", "hotpot.msgpack"), []byte(`{"a":[1,"b",null],"f":0.5}`), false},
		{dialWS(t, n, "", "hotpot.proto"), []byte{0, 0xff, 'x'}, true},
		{dialTCP(t, n, 0), []byte(`"tcp"`), false},
		{dialWS(t, n, ""), nil, false},
	}
	for _, tc := range cases {
		tc.cli.send(msg{Type: "Say", Data: tc.data})
		d := s.nextEvent().agentEvent(t)
		switch {
		case tc.data == nil:
			if string(d.Data) != "null" || d.DataBase64 != nil {
				t.Errorf("message without data: data %q base64 %q, want data null", d.Data, d.DataBase64)
			}
		case tc.raw:
			if !bytes.Equal(d.DataBase64, tc.data) || d.Data != nil {
				t.Errorf("proto message: data %q base64 %q, want data_base64 %q", d.Data, d.DataBase64, tc.data)
			}
		case d.DataBase64 != nil || !jsonEqual(t, d.Data, tc.data):
			t.Errorf("message: data %s base64 %q, want data %s", d.Data, d.DataBase64, tc.data)
		}
	}
}

func TestEventsFilters(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	byTypes := openEvents(t, n, &client.StreamEventsParams{Types: &[]client.EventType{client.EventTypeAgentConnected, client.EventTypeAgentDisconnected}})
	byAgent := openEvents(t, n, &client.StreamEventsParams{Agent: ptr("x")})
	byGroup := openEvents(t, n, &client.StreamEventsParams{Group: ptr("room")})

	x := dialWS(t, n, "?id=x")
	y := dialWS(t, n, "?id=y")
	if res, err := c.JoinGroupWithResponse(t.Context(), "x", "room"); err != nil || res.StatusCode() != http.StatusNoContent {
		t.Fatalf("join: %v %v", err, res.Status())
	}
	x.send(msg{Type: "M1"})
	y.send(msg{Type: "M2"})
	y.roundTrip() // a kicked agent's messages in flight are dropped
	c.KickAgentWithResponse(t.Context(), "y", nil)
	y.expectClose()
	// y's departure is published after its connection ends: wait for it,
	// so that it comes before x's.
	eventually(t, "y's agent.disconnected is in the log", func() bool {
		return len(n.logged(events.Filter{Types: []string{events.Disconnected}, Agent: "y"})) > 0
	})
	x.send(msg{Type: "M3"})
	x.roundTrip()
	c.KickAgentWithResponse(t.Context(), "x", nil)
	x.expectClose()

	check := func(name string, s *sseStream, want []string) {
		t.Helper()
		for i, w := range want {
			ev := s.nextEvent()
			d := ev.agentEvent(t)
			got := ev.Event + " " + d.Agent
			if d.Type != nil {
				got += " " + *d.Type
			}
			if got != w {
				t.Errorf("%s: event %d is %q, want %q", name, i, got, w)
			}
		}
	}
	check("types", byTypes, []string{"agent.connected x", "agent.connected y", "agent.disconnected y", "agent.disconnected x"})
	check("agent", byAgent, []string{"agent.connected x", "agent.message x M1", "agent.message x M3", "agent.disconnected x"})
	check("group", byGroup, []string{"agent.message x M1", "agent.message x M3"})
	t.Run("group sees its members leave", func(t *testing.T) {
		// The agent was in the group when it left, so its leaving is an
		// event of the group.
		ev, _ := byGroup.poll(time.Second)
		if ev.Event != "agent.disconnected" {
			t.Fatalf("a member's disconnect does not match ?group=; got %+v", ev)
		}
		if d := ev.agentEvent(t); d.Agent != "x" {
			t.Errorf("agent.disconnected of %q, want x", d.Agent)
		}
	})

	resp, body := n.do(t, http.MethodGet, "/events?types=bogus", "", nil)
	checkProblem(t, resp, body, http.StatusBadRequest)
	resp, body = n.do(t, http.MethodGet, "/events?types=agent.connected,bogus", "", nil)
	checkProblem(t, resp, body, http.StatusBadRequest)
	resp, body = n.do(t, http.MethodGet, "/events?agent=a%20b", "", nil)
	checkProblem(t, resp, body, http.StatusBadRequest)
	resp, body = n.do(t, http.MethodGet, "/events?group=a/b", "", nil)
	checkProblem(t, resp, body, http.StatusBadRequest)
}

func TestEventsPing(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil, withPingInterval(50*time.Millisecond))
	s := openEvents(t, n, nil)
	for range 2 {
		ev, ok := s.next(2 * time.Second)
		if !ok || ev.Comment != "ping" {
			t.Fatalf("got %+v, want a ping comment", ev)
		}
	}
}

// TestEventsPingDefault: an idle stream gets ": ping" every 15 s, the
// default a node is built with; the one test that waits that long.
func TestEventsPingDefault(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	start := time.Now()
	s := openEvents(t, n, nil)
	ev, ok := s.next(25 * time.Second)
	if !ok || ev.Comment != "ping" {
		t.Fatalf("got %+v, want a ping comment 15 s into an idle stream", ev)
	}
	if d := time.Since(start); d < 15*time.Second {
		t.Fatalf("the first ping came %v into the stream, before 15 s", d)
	}
}

// TestEventsEndOnShutdown: a stopping node's streams end, after every
// agent's agent.disconnected with reason shutdown.
func TestEventsEndOnShutdown(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	s := openEvents(t, n, nil)
	dialWS(t, n, "?id=last-one")
	if ev := s.nextEvent(); ev.Event != "agent.connected" {
		t.Fatalf("got %+v, want agent.connected", ev)
	}
	var shutdown sync.WaitGroup
	shutdown.Go(func() { n.shutdown() })
	defer shutdown.Wait()
	sawShutdown := false
	for {
		ev, ok := s.next(5 * time.Second)
		switch {
		case !ok && !sawShutdown:
			t.Fatal("the stream ended before the agent's agent.disconnected")
		case !ok:
			return
		case ev.Event == "agent.disconnected":
			if data := ev.agentEvent(t); data.Agent != "last-one" || data.Reason == nil || *data.Reason != "shutdown" {
				t.Fatalf("got %s, want last-one's disconnect with reason shutdown", ev.Data)
			}
			sawShutdown = true
		case !strings.HasPrefix(ev.Comment, "ping"):
			t.Fatalf("got %+v while shutting down, want agent.disconnected and the end of the stream", ev)
		}
	}
}

// TestEventStreamsAreBounded: beyond --max-sse-subscribers a new stream
// is refused with 503; once one closes, there is room again.
func TestEventStreamsAreBounded(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) { cfg.MaxSSESubscribers = 1 })
	first := openEvents(t, n, nil)
	resp, body := n.do(t, http.MethodGet, "/events", "", nil)
	checkProblem(t, resp, body, http.StatusServiceUnavailable)
	first.resp.Body.Close() // the client hangs up
	eventually(t, "the closed stream is given back", func() bool { return n.node.Events().Subscribers() == 0 })
	openEvents(t, n, nil)
}

// TestBuiltInTypesAreNotAgentMessages: only messages of types the node
// does not handle itself become agent.message events. A Ping, a Pong, an
// Echo, a Reply to a call that has ended and a Reply to no call at all
// are not published: the first agent.message is the Chat sent after them.
func TestBuiltInTypesAreNotAgentMessages(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	cli := dialWS(t, n, "")
	s := openEvents(t, n, &client.StreamEventsParams{Agent: &cli.id, Types: &[]client.EventType{client.EventTypeAgentMessage}})
	replyLate(t, n.client(t), cli)
	cli.send(msg{Type: "Reply", ID: "no-such-call", Data: []byte(`2`)})
	cli.send(msg{Type: "Pong"})
	cli.send(msg{Type: "Echo", Data: []byte(`3`)})
	if m := cli.recv(); m.Type != "Echo" {
		t.Fatalf("got %+v, want the Echo back", m)
	}
	cli.roundTrip()
	cli.send(msg{Type: "Chat", Data: []byte(`"hi"`)})
	if d := s.nextEvent().agentEvent(t); d.Type == nil || *d.Type != "Chat" {
		t.Fatalf("first agent.message has type %v, want Chat", ptrOr(d.Type))
	}
}

// replyLate makes cli reply to a call after the call has timed out.
func replyLate(t testing.TB, c *client.ClientWithResponses, cli *wsClient) {
	t.Helper()
	pending := callAsync(t, c, cli.id, client.CallRequest{Type: "Ask", TimeoutMs: ptr(1)})
	call := cli.recv()
	if res := awaitCall(t, pending); res.ApplicationProblemJSON504 == nil {
		t.Fatalf("call: %s: %s, want 504", res.Status(), res.Body)
	}
	cli.send(msg{Type: "Reply", ID: call.ID, Data: []byte(`1`)})
}
