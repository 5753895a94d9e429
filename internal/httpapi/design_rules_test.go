package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
)

// TestDataBase64ForJSONClients: a json or msgpack client is given
// data_base64 only when its bytes are valid JSON. Otherwise a push or a
// call answers 400 and the client receives nothing.
func TestDataBase64ForJSONClients(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	notJSON := base64.StdEncoding.EncodeToString([]byte{0xff, 0, '{'})
	valid := []byte(`{"b":[1,"二",null]}`)
	for _, codecName := range []string{"json", "msgpack"} {
		t.Run(codecName, func(t *testing.T) {
			t.Parallel()
			cli := dialWS(t, n, "?codec="+codecName)
			for _, path := range []string{"/events", "/call"} {
				resp, body := n.do(t, http.MethodPost, "/agents/"+cli.id+path, "application/json",
					strings.NewReader(`{"type":"Refused","data_base64":"`+notJSON+`"}`))
				checkProblem(t, resp, body, http.StatusBadRequest)
			}

			res, err := c.PushAgentEventWithResponse(t.Context(), cli.id, client.EventRequest{Type: "Pushed", DataBase64: valid})
			if err != nil || res.StatusCode() != http.StatusAccepted {
				t.Fatalf("push of JSON bytes: %v %v, want 202", err, res.Status())
			}
			if m := cli.recv(); m.Type != "Pushed" || !jsonEqual(t, m.Data, valid) {
				t.Fatalf("the client got %s %s first, want the push of %s: nothing refused may reach it", m.Type, m.Data, valid)
			}
			pending := callAsync(t, c, cli.id, client.CallRequest{Type: "Asked", DataBase64: valid})
			call := cli.recv()
			if call.Type != "Asked" || !jsonEqual(t, call.Data, valid) {
				t.Fatalf("the client got %s %s, want the call with %s", call.Type, call.Data, valid)
			}
			cli.send(echoReply(call))
			if res := awaitCall(t, pending); res.JSON200 == nil || !jsonEqual(t, res.JSON200.Data, valid) {
				t.Fatalf("call of JSON bytes: %s: %s, want 200 with data %s", res.Status(), res.Body, valid)
			}
		})
	}
}

// TestAgentIDAlphabet: an agent id is 1–128 of [A-Za-z0-9_.:@-]. Ids
// with each of the punctuation marks, and one of 128 bytes, are taken as
// they are: Welcome carries the id and GET /agents/{id} finds it.
func TestAgentIDAlphabet(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	for _, id := range []string{"under_score", "dot.ted", "co:lon", "player@example.com", "dash-ed", strings.Repeat("aZ9_.:@-", 16)} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			if cli := dialWS(t, n, "?id="+id); cli.id != id {
				t.Fatalf("Welcome carries id %q, want %q", cli.id, id)
			}
			res, err := c.GetAgentWithResponse(t.Context(), id)
			if err != nil || res.JSON200 == nil || res.JSON200.ID != id {
				t.Fatalf("GET /agents/%s: %v %v %s, want 200 with that id", id, err, res.Status(), res.Body)
			}
		})
	}
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

// TestListAgentsDefaultLimit: without limit, GET /agents answers pages of
// 100 agents.
func TestListAgentsDefaultLimit(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	for range 101 {
		dialTCP(t, n, 0)
	}
	if _, pages := listIDs(t, n.client(t), client.ListAgentsParams{}); !slices.Equal(pages, []int{100, 1}) {
		t.Fatalf("101 agents in pages of %v, want 100 then 1", pages)
	}
}

// TestMetricsMove: the metrics the design and README promise for a node
// alone are exposed with their types, and move when what they count
// happens.
func TestMetricsMove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, kind, series string
		tweak              func(*config.Config)
		cause              func(t *testing.T, n *testNode)
		by                 float64
	}{{
		"hotpot_frames_rate_limited_total", "counter", `hotpot_frames_rate_limited_total{transport="ws"}`,
		func(cfg *config.Config) { cfg.RateLimit, cfg.RateBurst = 0.001, 1 },
		func(t *testing.T, n *testNode) {
			cli := dialWS(t, n, "")
			cli.send(msg{Type: "Ping"})
			cli.send(msg{Type: "Ping"}) // finds the bucket of 1 empty
			if m := cli.recv(); m.Type != "Pong" {
				t.Fatalf("got %+v, want Pong", m)
			}
			if m := cli.recv(); m.Type != "Error" || m.Code != http.StatusTooManyRequests {
				t.Fatalf("got %+v, want Error 429", m)
			}
		}, 1,
	}, {
		"hotpot_kicks_total", "counter", `hotpot_kicks_total{reason="kicked"}`, nil,
		func(t *testing.T, n *testNode) {
			cli := dialWS(t, n, "")
			if res, err := n.client(t).KickAgentWithResponse(t.Context(), cli.id, nil); err != nil || res.StatusCode() != http.StatusNoContent {
				t.Fatalf("kick: %v %v", err, res.Status())
			}
			cli.expectClose()
		}, 1,
	}, {
		"hotpot_call_duration_seconds", "histogram", "hotpot_call_duration_seconds_count", nil,
		func(t *testing.T, n *testNode) {
			cli := dialWS(t, n, "")
			cli.answerCalls(echoReply)
			if res, err := n.client(t).CallAgentWithResponse(t.Context(), cli.id, client.CallRequest{Type: "Ask"}); err != nil || res.JSON200 == nil {
				t.Fatalf("call: %v %v", err, res.Status())
			}
		}, 1,
	}, {
		"hotpot_late_replies_total", "counter", "hotpot_late_replies_total", nil,
		func(t *testing.T, n *testNode) {
			cli := dialWS(t, n, "")
			replyLate(t, n.client(t), cli)
			cli.send(msg{Type: "Reply", ID: "no-such-call"})
			cli.roundTrip() // both replies have been handled
		}, 2,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := startNode(t, tc.tweak)
			before := n.metric(t, tc.series)
			tc.cause(t, n)
			if _, body := n.do(t, http.MethodGet, "/metrics", "", nil); !bytes.Contains(body, []byte("\n# TYPE "+tc.name+" "+tc.kind+"\n")) {
				t.Errorf("no %s %s in /metrics", tc.kind, tc.name)
			}
			if moved := n.metric(t, tc.series) - before; moved != tc.by {
				t.Errorf("%s moved by %v, want %v", tc.series, moved, tc.by)
			}
		})
	}
}

// TestFanOutsBeyondMaxBroadcasts: a broadcast or group push that finds
// --max-broadcasts of them in flight answers 503 with Retry-After, and
// nothing of it is sent. With one slot, broadcasts and group pushes to
// enough agents that their deliveries overlap are sent at once until each
// kind has been refused; then every client has had every accepted
// broadcast, and the group's members every accepted group push, once,
// and nothing refused.
func TestFanOutsBeyondMaxBroadcasts(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) { cfg.MaxBroadcasts = 1 })
	c := n.client(t)
	clients := make([]*tcpClient, 500)
	for i := range clients {
		clients[i] = dialTCP(t, n, 0)
	}
	members := clients[:3]
	for _, cli := range members {
		if res, err := c.JoinGroupWithResponse(t.Context(), cli.id, "g"); err != nil || res.StatusCode() != http.StatusNoContent {
			t.Fatalf("join: %v %v", err, res.Status())
		}
	}

	var (
		mu                sync.Mutex          // guards the three below
		accepted          = map[string]bool{} // the types answered 200
		refusedBroadcasts int
		refusedGroup      int
	)
	// fanOut sends the k-th fan-out, a group push when k is odd, else a
	// broadcast, and reports whether to stop: both kinds have been
	// refused, or the request failed.
	fanOut := func(k int64) bool {
		typ, want := fmt.Sprintf("B%d", k), len(clients)
		var resp *http.Response
		var err error
		if k%2 == 1 {
			typ, want = fmt.Sprintf("G%d", k), len(members)
			resp, err = c.PushGroupEvent(t.Context(), "g", client.EventRequest{Type: typ})
		} else {
			resp, err = c.Broadcast(t.Context(), nil, client.EventRequest{Type: typ})
		}
		if err != nil {
			t.Error(err)
			return true
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Error(err)
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		switch resp.StatusCode {
		case http.StatusOK:
			var d struct{ Delivered int }
			if err := json.Unmarshal(body, &d); err != nil || d.Delivered != want {
				t.Errorf("%s: %s, want delivered %d", typ, body, want)
			}
			accepted[typ] = true
		case http.StatusServiceUnavailable:
			checkProblem(t, resp, body, http.StatusServiceUnavailable)
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("%s refused with Retry-After %q, want a number of seconds", typ, resp.Header.Get("Retry-After"))
			}
			if typ[0] == 'G' {
				refusedGroup++
			} else {
				refusedBroadcasts++
			}
		default:
			t.Errorf("%s: %s %s, want 200 or 503", typ, resp.Status, body)
		}
		return refusedBroadcasts > 0 && refusedGroup > 0
	}
	const most = 400
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				k := next.Add(1)
				if k > most {
					return
				}
				if fanOut(k) {
					stop.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if refusedBroadcasts == 0 || refusedGroup == 0 {
		t.Fatalf("%d fan-outs, 8 at a time, to %d agents with --max-broadcasts 1: refused %d broadcasts and %d group pushes, want some of each", min(next.Load(), most), len(clients), refusedBroadcasts, refusedGroup)
	}
	if got, want := n.metric(t, "hotpot_fanouts_refused_total"), float64(refusedBroadcasts+refusedGroup); got != want {
		t.Errorf("hotpot_fanouts_refused_total = %v, want the %v refused", got, want)
	}

	if res, err := c.BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "End"}); err != nil || res.JSON200 == nil {
		t.Fatalf("the last broadcast: %v %v", err, res.Status())
	}
	for i, cli := range clients {
		got := map[string]bool{}
		for m := cli.recv(); m.Type != "End"; m = cli.recv() {
			if !accepted[m.Type] || got[m.Type] {
				t.Fatalf("client %d got %s, which was refused or came before", i, m.Type)
			}
			got[m.Type] = true
		}
		for typ := range accepted {
			if !got[typ] && (typ[0] == 'B' || i < len(members)) {
				t.Fatalf("client %d did not get %s", i, typ)
			}
		}
	}
}
