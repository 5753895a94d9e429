package httpapi

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
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
