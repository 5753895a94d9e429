package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

func TestPushEvent(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	cases := []struct {
		name string
		dial func(t *testing.T) (agentConn, string)
		req  client.EventRequest
		want []byte // the data the client must receive
		raw  bool   // compare byte for byte
	}{
		{"json ws", func(t *testing.T) (agentConn, string) { c := dialWS(t, n, ""); return c, c.id },
			client.EventRequest{Type: "Notice", Data: json.RawMessage(`{"text":"Your turn"}`)}, []byte(`{"text":"Your turn"}`), false},
		{"msgpack ws", func(t *testing.T) (agentConn, string) { c := dialWS(t, n, "", "hotpot.msgpack"); return c, c.id },
			client.EventRequest{Type: "Notice", Data: json.RawMessage(`{"n":[1,2.5,"三"]}`)}, []byte(`{"n":[1,2.5,"三"]}`), false},
		{"proto ws with data_base64", func(t *testing.T) (agentConn, string) { c := dialWS(t, n, "", "hotpot.proto"); return c, c.id },
			client.EventRequest{Type: "Frame", DataBase64: []byte{0xde, 0xad, 0, 0xbe, 0xef}}, []byte{0xde, 0xad, 0, 0xbe, 0xef}, true},
		{"tcp", func(t *testing.T) (agentConn, string) { c := dialTCP(t, n, 0); return c, c.id },
			client.EventRequest{Type: "Notice", Data: json.RawMessage(`"hi"`)}, []byte(`"hi"`), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli, id := tc.dial(t)
			res, err := c.PushAgentEventWithResponse(t.Context(), id, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusAccepted {
				t.Fatalf("%s: %s, want 202", res.Status(), res.Body)
			}
			got := cli.recv()
			if got.Type != tc.req.Type || got.ID != "" {
				t.Fatalf("client got %+v, want a %s event without id", got, tc.req.Type)
			}
			if tc.raw && !bytes.Equal(got.Data, tc.want) || !tc.raw && !jsonEqual(t, got.Data, tc.want) {
				t.Errorf("client got data %q, want %q", got.Data, tc.want)
			}
		})
	}

	t.Run("404 unknown agent", func(t *testing.T) {
		t.Parallel()
		res, err := c.PushAgentEventWithResponse(t.Context(), "nobody", client.EventRequest{Type: "Notice"})
		if err != nil {
			t.Fatal(err)
		}
		if res.ApplicationProblemJSON404 == nil {
			t.Fatalf("%s: %s, want 404", res.Status(), res.Body)
		}
	})
}

// TestPushQueueFull: pushing to a client that does not read fills its
// send queue; the push that finds it full answers 410 and the agent is
// closed as a slow consumer.
func TestPushQueueFull(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) { cfg.SendQueue = 4 })
	c := n.client(t)
	cli := dialTCP(t, n, 4096) // and never read again
	events := openEvents(t, n, &client.StreamEventsParams{Agent: &cli.id, Types: &[]client.EventType{client.EventTypeAgentDisconnected}})

	data := json.RawMessage(`"` + strings.Repeat("x", 60000) + `"`)
	status := 0
	for i := 0; i < 2000 && status != http.StatusGone; i++ {
		res, err := c.PushAgentEventWithResponse(t.Context(), cli.id, client.EventRequest{Type: "Fill", Data: data})
		if err != nil {
			t.Fatal(err)
		}
		status = res.StatusCode()
		if status != http.StatusAccepted && status != http.StatusGone {
			t.Fatalf("push %d: %s: %s", i, res.Status(), res.Body)
		}
	}
	if status != http.StatusGone {
		t.Fatal("2000 pushes of 60 kB to a client that never reads were all accepted")
	}
	cli.conn.Close()
	ev := events.nextEvent()
	if d := ev.agentEvent(t); ev.Event != "agent.disconnected" || d.Reason == nil || *d.Reason != "slow consumer" {
		t.Errorf("after the 410: %s %s, want agent.disconnected with reason slow consumer", ev.Event, ev.Data)
	}
	res, err := c.PushAgentEventWithResponse(t.Context(), cli.id, client.EventRequest{Type: "Fill"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ApplicationProblemJSON404 == nil {
		t.Errorf("push to the closed agent: %s, want 404", res.Status())
	}
}

func TestKick(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	cases := []struct {
		name   string
		reason *string
		want   string
	}{
		{"with a reason", ptr("cheating, 3rd strike"), "cheating, 3rd strike"},
		{"default reason", nil, "kicked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli := dialWS(t, n, "")
			res, err := c.KickAgentWithResponse(t.Context(), cli.id, &client.KickAgentParams{Reason: tc.reason})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusNoContent {
				t.Fatalf("%s: %s, want 204", res.Status(), res.Body)
			}
			code, reason := cli.expectClose()
			if code != websocket.StatusNormalClosure || reason != tc.want {
				t.Errorf("client got Kicked %q and close %d, want %q and 1000", reason, code, tc.want)
			}
		})
	}
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		cli := dialTCP(t, n, 0)
		if res, err := c.KickAgentWithResponse(t.Context(), cli.id, &client.KickAgentParams{Reason: ptr("bye")}); err != nil || res.StatusCode() != http.StatusNoContent {
			t.Fatalf("kick: %v %v", err, res.Status())
		}
		if m := cli.recv(); m.Type != "Kicked" || !jsonEqual(t, m.Data, []byte(`{"reason":"bye"}`)) {
			t.Errorf("client got %+v, want Kicked bye", m)
		}
	})
	t.Run("404 unknown agent", func(t *testing.T) {
		t.Parallel()
		res, err := c.KickAgentWithResponse(t.Context(), "nobody", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.ApplicationProblemJSON404 == nil {
			t.Fatalf("%s: %s, want 404", res.Status(), res.Body)
		}
	})
	t.Run("400 reason too long", func(t *testing.T) {
		t.Parallel()
		cli := dialWS(t, n, "")
		res, err := c.KickAgentWithResponse(t.Context(), cli.id, &client.KickAgentParams{Reason: ptr(strings.Repeat("r", 124))})
		if err != nil {
			t.Fatal(err)
		}
		if res.ApplicationProblemJSON400 == nil {
			t.Fatalf("%s: %s, want 400", res.Status(), res.Body)
		}
	})
}

func TestGroupEvents(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	a, b, other := dialWS(t, n, ""), dialWS(t, n, "", "hotpot.msgpack"), dialWS(t, n, "")
	for _, cli := range []*wsClient{a, b} {
		if res, err := c.JoinGroupWithResponse(t.Context(), cli.id, "red"); err != nil || res.StatusCode() != http.StatusNoContent {
			t.Fatalf("join: %v %v", err, res.Status())
		}
	}
	push := func(group string, want int) {
		t.Helper()
		res, err := c.PushGroupEventWithResponse(t.Context(), group, client.EventRequest{Type: "Round", Data: json.RawMessage(`{"n":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if res.JSON200 == nil || res.JSON200.Delivered != want {
			t.Fatalf("push to %s: %s: %s, want delivered %d", group, res.Status(), res.Body, want)
		}
	}
	push("red", 2)
	for _, cli := range []*wsClient{a, b} {
		if m := cli.recv(); m.Type != "Round" || !jsonEqual(t, m.Data, []byte(`{"n":1}`)) {
			t.Errorf("member got %+v, want Round", m)
		}
	}
	if res, err := c.LeaveGroupWithResponse(t.Context(), b.id, "red"); err != nil || res.StatusCode() != http.StatusNoContent {
		t.Fatalf("leave: %v %v", err, res.Status())
	}
	push("red", 1)
	push("empty", 0)
	// The non-member, and the member that left, got nothing of the group:
	// their next message is the one pushed to them directly.
	for _, cli := range []*wsClient{b, other} {
		if res, err := c.PushAgentEventWithResponse(t.Context(), cli.id, client.EventRequest{Type: "Direct"}); err != nil || res.StatusCode() != http.StatusAccepted {
			t.Fatalf("push: %v %v", err, res.Status())
		}
		if m := cli.recv(); m.Type != "Direct" {
			t.Errorf("non-member got %+v, want only Direct", m)
		}
	}
	if m := a.recv(); m.Type != "Round" {
		t.Errorf("member got %+v, want the second Round", m)
	}
}

func TestBroadcast(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	clients := []agentConn{dialWS(t, n, ""), dialWS(t, n, "", "hotpot.msgpack"), dialWS(t, n, "", "hotpot.proto"), dialTCP(t, n, 0)}
	data := json.RawMessage(`{"motd":"welcome"}`)

	res, err := c.BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "News", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.JSON200; r == nil || r.Delivered != len(clients) || r.Nodes != 1 || r.Partial {
		t.Fatalf("broadcast: %s: %s, want delivered %d, nodes 1, partial false", res.Status(), res.Body, len(clients))
	}
	async, err := c.BroadcastWithResponse(t.Context(), &client.BroadcastParams{Async: ptr(true)}, client.EventRequest{Type: "Later", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if async.StatusCode() != http.StatusAccepted {
		t.Fatalf("async broadcast: %s: %s, want 202", async.Status(), async.Body)
	}
	for i, cli := range clients {
		for _, typ := range []string{"News", "Later"} {
			m := cli.recv()
			if m.Type != typ || !jsonEqual(t, m.Data, data) { // a proto client gets the JSON bytes
				t.Errorf("client %d got %+v (data %s), want %s", i, m, m.Data, typ)
			}
		}
	}
}

// TestBroadcastAsyncAnswersFirst: POST /broadcast?async=true answers 202
// before the broadcast is delivered. Here the node's survey of the other
// nodes is held until the 202 has come: one that delivered first would
// not answer at all.
func TestBroadcastAsyncAnswersFirst(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	held := &heldSurveys{Memory: pubsub.NewMemory("test-node", cfg.EventRetention, cfg.EventRetentionBytes), release: make(chan struct{})}
	n := startNode(t, nil, withBroker(held))
	var once sync.Once
	release := func() { once.Do(func() { close(held.release) }) }
	t.Cleanup(release) // before the node stops, which waits for the broadcast
	cli := dialWS(t, n, "")

	answered := make(chan int, 1)
	go func() {
		res, err := n.client(t).BroadcastWithResponse(context.Background(), &client.BroadcastParams{Async: ptr(true)}, client.EventRequest{Type: "Later"})
		if err != nil {
			answered <- 0
			return
		}
		answered <- res.StatusCode()
	}()
	select {
	case status := <-answered:
		if status != http.StatusAccepted {
			t.Fatalf("async broadcast answered %d, want 202", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to an async broadcast while its delivery is held")
	}
	release()
	if m := cli.recv(); m.Type != "Later" {
		t.Fatalf("the client got %+v, want the broadcast", m)
	}
}

// heldSurveys is a node's in-memory broker whose surveys of other nodes
// wait until release is closed, past any deadline: a broadcast whose
// delivery is held for as long as a test likes.
type heldSurveys struct {
	*pubsub.Memory
	release chan struct{}
}

// Survey waits for release, then surveys as the Memory broker does.
func (b *heldSurveys) Survey(ctx context.Context, msg []byte, expect []string) (map[string][]byte, error) {
	<-b.release
	return b.Memory.Survey(ctx, msg, expect)
}

// TestFanOutRefusesWhatAClientCouldNotTake: a broadcast or group push that
// some client could not be given is refused before anything is sent, as a
// push to that client is: 413 for a frame over --max-message-bytes, 400
// for data_base64 that a JSON or msgpack client cannot carry.
func TestFanOutRefusesWhatAClientCouldNotTake(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	cli := dialWS(t, n, "")
	if res, err := c.JoinGroupWithResponse(t.Context(), cli.id, "g"); err != nil || res.StatusCode() != http.StatusNoContent {
		t.Fatalf("join: %v %v", err, res.Status())
	}
	big := json.RawMessage(`"` + strings.Repeat("x", 70000) + `"`)
	notJSON := []byte{0xff, 0x00, 0x01}
	for _, tc := range []struct {
		name string
		req  client.EventRequest
		want int
	}{
		{"too big", client.EventRequest{Type: "Big", Data: big}, http.StatusRequestEntityTooLarge},
		{"not JSON", client.EventRequest{Type: "Blob", DataBase64: notJSON}, http.StatusBadRequest},
	} {
		b, err := c.BroadcastWithResponse(t.Context(), nil, tc.req)
		if err != nil || b.StatusCode() != tc.want {
			t.Errorf("broadcast %s: %v %v, want %d", tc.name, err, b.Status(), tc.want)
		}
		a, err := c.BroadcastWithResponse(t.Context(), &client.BroadcastParams{Async: ptr(true)}, tc.req)
		if err != nil || a.StatusCode() != tc.want {
			t.Errorf("async broadcast %s: %v %v, want %d", tc.name, err, a.Status(), tc.want)
		}
		g, err := c.PushGroupEventWithResponse(t.Context(), "g", tc.req)
		if err != nil || g.StatusCode() != tc.want {
			t.Errorf("group push %s: %v %v, want %d", tc.name, err, g.Status(), tc.want)
		}
	}
	if res, err := c.BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "Small"}); err != nil || res.JSON200 == nil {
		t.Fatalf("small broadcast: %v %v", err, res.Status())
	}
	if m := cli.recv(); m.Type != "Small" {
		t.Fatalf("the client got %+v first, want Small: nothing refused may be sent", m)
	}
}

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
