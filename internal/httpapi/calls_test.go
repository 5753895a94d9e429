package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
)

// agentConn is a test client on either transport.
type agentConn interface {
	send(msg)
	recv() msg
}

// callAsync starts a call and returns where its response will be. The
// call is abandoned, and waited for, when the test ends.
func callAsync(t testing.TB, c *client.ClientWithResponses, id string, req client.CallRequest) <-chan *client.CallAgentResponse {
	out := make(chan *client.CallAgentResponse, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		res, err := c.CallAgentWithResponse(t.Context(), id, req)
		if err != nil {
			if t.Context().Err() == nil {
				t.Errorf("POST /agents/%s/call: %v", id, err)
			}
			close(out)
			return
		}
		out <- res
	})
	t.Cleanup(wg.Wait)
	return out
}

// awaitCall waits for the response of a call started with callAsync.
func awaitCall(t testing.TB, ch <-chan *client.CallAgentResponse) *client.CallAgentResponse {
	t.Helper()
	select {
	case res, ok := <-ch:
		if !ok {
			t.FailNow()
		}
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the call")
	}
	return nil
}

func TestCallRoundTrip(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	cases := []struct {
		name  string
		dial  func(t *testing.T) (agentConn, string)
		req   client.CallRequest
		toCli []byte // the data the client must receive; JSON unless raw
		raw   bool   // compare data byte for byte
		reply []byte // the data the client replies with
		data  []byte // the JSON data the call must answer (nil: data_base64)
		b64   []byte // the data_base64 the call must answer
	}{{
		name:  "json ws",
		dial:  func(t *testing.T) (agentConn, string) { c := dialWS(t, n, ""); return c, c.id },
		req:   client.CallRequest{Type: "GetScore", Data: json.RawMessage(`{"level":3,"name":"你好"}`), TimeoutMs: ptr(2000)},
		toCli: []byte(`{"level":3,"name":"你好"}`),
		reply: []byte(`{"score":1200,"tags":["a",null,true]}`),
		data:  []byte(`{"score":1200,"tags":["a",null,true]}`),
	}, {
		name:  "msgpack ws transcodes both ways",
		dial:  func(t *testing.T) (agentConn, string) { c := dialWS(t, n, "", "hotpot.msgpack"); return c, c.id },
		req:   client.CallRequest{Type: "GetScore", Data: json.RawMessage(`{"level":3,"ratio":1.5,"big":-9007199254740993,"list":[1,"x",{}]}`)},
		toCli: []byte(`{"level":3,"ratio":1.5,"big":-9007199254740993,"list":[1,"x",{}]}`),
		reply: []byte(`{"score":1200,"ok":false,"who":"你好"}`),
		data:  []byte(`{"score":1200,"ok":false,"who":"你好"}`),
	}, {
		name:  "proto ws answers data_base64, and gets data_base64 as raw bytes",
		dial:  func(t *testing.T) (agentConn, string) { c := dialWS(t, n, "", "hotpot.proto"); return c, c.id },
		req:   client.CallRequest{Type: "Blob", DataBase64: []byte{0, 1, 0xfe, 0xff, '"'}},
		toCli: []byte{0, 1, 0xfe, 0xff, '"'},
		raw:   true,
		reply: []byte{9, 8, 7, 0, 0xff},
		b64:   []byte{9, 8, 7, 0, 0xff},
	}, {
		name:  "proto ws gets JSON data as its bytes",
		dial:  func(t *testing.T) (agentConn, string) { c := dialWS(t, n, "?codec=proto"); return c, c.id },
		req:   client.CallRequest{Type: "Blob", Data: json.RawMessage(`{"a":[1,2]}`)},
		toCli: []byte(`{"a":[1,2]}`),
		raw:   true,
		reply: []byte("ok"),
		b64:   []byte("ok"),
	}, {
		name:  "json ws gets JSON data_base64 as JSON",
		dial:  func(t *testing.T) (agentConn, string) { c := dialWS(t, n, ""); return c, c.id },
		req:   client.CallRequest{Type: "Set", DataBase64: []byte(`{"b":2}`)},
		toCli: []byte(`{"b":2}`),
		reply: []byte(`"done"`),
		data:  []byte(`"done"`),
	}, {
		name:  "tcp json",
		dial:  func(t *testing.T) (agentConn, string) { c := dialTCP(t, n, 0); return c, c.id },
		req:   client.CallRequest{Type: "GetScore", Data: json.RawMessage(`[1,2,3]`), TimeoutMs: ptr(60000)},
		toCli: []byte(`[1,2,3]`),
		reply: []byte(`{"score":7}`),
		data:  []byte(`{"score":7}`),
	}, {
		name: "no data either way",
		dial: func(t *testing.T) (agentConn, string) { c := dialWS(t, n, ""); return c, c.id },
		req:  client.CallRequest{Type: "Poke"},
		data: []byte(`null`),
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli, id := tc.dial(t)
			pending := callAsync(t, c, id, tc.req)
			call := cli.recv()
			if call.Type != tc.req.Type || call.ID == "" {
				t.Fatalf("client got %+v, want a %s call with an id", call, tc.req.Type)
			}
			switch {
			case tc.toCli == nil:
				if call.Data != nil {
					t.Errorf("client got data %q, want none", call.Data)
				}
			case tc.raw:
				if !bytes.Equal(call.Data, tc.toCli) {
					t.Errorf("client got data %q, want %q", call.Data, tc.toCli)
				}
			case !jsonEqual(t, call.Data, tc.toCli):
				t.Errorf("client got data %s, want %s", call.Data, tc.toCli)
			}
			cli.send(msg{Type: "Reply", ID: call.ID, Data: tc.reply})
			res := awaitCall(t, pending)
			if res.JSON200 == nil {
				t.Fatalf("call answered %s: %s", res.Status(), res.Body)
			}
			if tc.b64 != nil {
				if !bytes.Equal(res.JSON200.DataBase64, tc.b64) || res.JSON200.Data != nil {
					t.Errorf("answer %s, want data_base64 of %q and no data", res.Body, tc.b64)
				}
				return
			}
			if res.JSON200.DataBase64 != nil || !jsonEqual(t, res.JSON200.Data, tc.data) {
				t.Errorf("answer %s, want data %s", res.Body, tc.data)
			}
		})
	}
}

func TestCallFailures(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)

	t.Run("404 unknown agent", func(t *testing.T) {
		t.Parallel()
		res, err := c.CallAgentWithResponse(t.Context(), "nobody", client.CallRequest{Type: "X"})
		if err != nil {
			t.Fatal(err)
		}
		if res.ApplicationProblemJSON404 == nil {
			t.Fatalf("%s: %s, want 404", res.Status(), res.Body)
		}
	})

	t.Run("504 at the call's timeout, then the late reply is dropped", func(t *testing.T) {
		t.Parallel()
		cli := dialWS(t, n, "?id=late")
		long := callAsync(t, c, cli.id, client.CallRequest{Type: "Slower", TimeoutMs: ptr(60000)})
		longCall := cli.recv()
		start := time.Now()
		short := callAsync(t, c, cli.id, client.CallRequest{Type: "Slow", TimeoutMs: ptr(100)})
		call := cli.recv()
		res := awaitCall(t, short)
		if res.ApplicationProblemJSON504 == nil {
			t.Fatalf("%s: %s, want 504", res.Status(), res.Body)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("504 after %v, before the call's 100 ms", d)
		}
		// The call made first goes by its own timeout: it can still be
		// answered.
		cli.send(msg{Type: "Reply", ID: longCall.ID, Data: []byte(`2`)})
		if res := awaitCall(t, long); res.JSON200 == nil || string(res.JSON200.Data) != "2" {
			t.Fatalf("the call with a 60 s timeout, answered after the other's 504: %s: %s", res.Status(), res.Body)
		}
		late := n.metric(t, "hotpot_late_replies_total")
		cli.send(msg{Type: "Reply", ID: call.ID, Data: []byte(`"too late"`)})
		eventually(t, "the late reply is counted", func() bool { return n.metric(t, "hotpot_late_replies_total") == late+1 })
		// The agent is unharmed: the next call works.
		pending := callAsync(t, c, cli.id, client.CallRequest{Type: "Again"})
		call = cli.recv()
		cli.send(msg{Type: "Reply", ID: call.ID, Data: []byte(`1`)})
		if res := awaitCall(t, pending); res.JSON200 == nil || string(res.JSON200.Data) != "1" {
			t.Fatalf("call after a late reply: %s: %s", res.Status(), res.Body)
		}
	})

	t.Run("502 carries the client's code and msg", func(t *testing.T) {
		t.Parallel()
		cli := dialTCP(t, n, 0)
		pending := callAsync(t, c, cli.id, client.CallRequest{Type: "Move"})
		call := cli.recv()
		cli.send(msg{Type: "Reply", ID: call.ID, Code: 403, Msg: "not your turn"})
		res := awaitCall(t, pending)
		p := res.ApplicationProblemJSON502
		if p == nil || p.Code == nil || *p.Code != 403 || p.Msg == nil || *p.Msg != "not your turn" || p.Status != 502 {
			t.Fatalf("%s: %s, want 502 with code 403 and msg", res.Status(), res.Body)
		}
		var top map[string]any
		if err := json.Unmarshal(res.Body, &top); err != nil || top["code"] != float64(403) || top["msg"] != "not your turn" {
			t.Errorf("code and msg are not top-level members: %s", res.Body)
		}
	})

	t.Run("502 for a reply that has no JSON form", func(t *testing.T) {
		t.Parallel()
		cli := dialWS(t, n, "", "hotpot.msgpack")
		pending := callAsync(t, c, cli.id, client.CallRequest{Type: "Ratio"})
		call := cli.recv()
		frame, err := msgpack.Marshal(map[string]any{"type": "Reply", "id": call.ID, "data": math.NaN()})
		if err != nil {
			t.Fatal(err)
		}
		if err := cli.conn.Write(t.Context(), websocket.MessageBinary, frame); err != nil {
			t.Fatal(err)
		}
		if res := awaitCall(t, pending); res.ApplicationProblemJSON502 == nil {
			t.Fatalf("%s: %s, want 502", res.Status(), res.Body)
		}
	})

	t.Run("410 when the agent leaves mid-call", func(t *testing.T) {
		t.Parallel()
		cli := dialWS(t, n, "")
		pending := callAsync(t, c, cli.id, client.CallRequest{Type: "Wait", TimeoutMs: ptr(30000)})
		cli.recv()
		cli.conn.CloseNow()
		// At once: awaitCall gives up long before the call's 30 s.
		if res := awaitCall(t, pending); res.ApplicationProblemJSON410 == nil {
			t.Fatalf("%s: %s, want 410", res.Status(), res.Body)
		}
	})
}

func TestCallMetrics(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	c := n.client(t)
	cli := dialWS(t, n, "")
	cli.answerCalls(echoReply)
	if v := n.metric(t, `hotpot_calls_total{outcome="ok"}`); v != 0 {
		t.Fatalf("ok calls before any call = %v", v)
	}
	for range 3 {
		res, err := c.CallAgentWithResponse(t.Context(), cli.id, client.CallRequest{Type: "Echo2", Data: json.RawMessage(`1`)})
		if err != nil || res.JSON200 == nil {
			t.Fatalf("call: %v %v", err, res.Status())
		}
	}
	if _, err := c.CallAgentWithResponse(t.Context(), "ghost", client.CallRequest{Type: "X"}); err != nil {
		t.Fatal(err)
	}
	if v := n.metric(t, `hotpot_calls_total{outcome="ok"}`); v != 3 {
		t.Errorf(`hotpot_calls_total{outcome="ok"} = %v, want 3`, v)
	}
	if v := n.metric(t, `hotpot_calls_total{outcome="not_found"}`); v != 1 {
		t.Errorf(`hotpot_calls_total{outcome="not_found"} = %v, want 1`, v)
	}
}

// TestCallWhileDraining: once shutdown has begun, a new call answers 503
// at once, while a call in flight may still be answered: the drain lasts
// until none is left (or --drain-timeout, here far away).
func TestCallWhileDraining(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) { cfg.DrainTimeout = time.Minute })
	c := n.client(t)
	cli := dialWS(t, n, "?id=busy")
	pending := callAsync(t, c, cli.id, client.CallRequest{Type: "Long", TimeoutMs: ptr(30000)})
	call := cli.recv() // the call is in flight

	var shutdown sync.WaitGroup
	var shutdownErr error
	shutdown.Go(func() { shutdownErr = n.shutdown() })
	t.Cleanup(shutdown.Wait)

	eventually(t, "a new call answers 503", func() bool {
		res, err := c.CallAgentWithResponse(t.Context(), cli.id, client.CallRequest{Type: "New", TimeoutMs: ptr(20)})
		if err != nil {
			t.Fatal(err)
		}
		switch res.StatusCode() {
		case http.StatusServiceUnavailable:
			return true
		case http.StatusGatewayTimeout: // shutdown has not begun yet
			cli.recv()
			return false
		}
		t.Fatalf("call while draining: %s: %s", res.Status(), res.Body)
		return false
	})
	if len(pending) != 0 {
		t.Fatal("the call in flight ended with the drain's beginning")
	}
	cli.send(msg{Type: "Reply", ID: call.ID, Data: []byte(`"done"`)})
	if res := awaitCall(t, pending); res.JSON200 == nil {
		t.Fatalf("the call in flight, answered during the drain: %s: %s, want 200", res.Status(), res.Body)
	}
	if code, reason := cli.expectClose(); code != 1001 || reason != "shutdown" {
		t.Errorf("after the drain the client got close %d with Kicked %q, want 1001 shutdown", code, reason)
	}
	shutdown.Wait()
	if shutdownErr != nil {
		t.Errorf("Shutdown: %v", shutdownErr)
	}
}

// TestCallAtDrainTimeout: a call still unanswered when --drain-timeout
// ends answers 503 then (not 504, not 410), not before.
func TestCallAtDrainTimeout(t *testing.T) {
	t.Parallel()
	const drain = 200 * time.Millisecond
	n := startNode(t, func(cfg *config.Config) { cfg.DrainTimeout = drain })
	c := n.client(t)
	cli := dialWS(t, n, "?id=silent")
	pending := callAsync(t, c, cli.id, client.CallRequest{Type: "Long", TimeoutMs: ptr(30000)})
	cli.recv()

	var shutdown sync.WaitGroup
	var shutdownErr error
	start := time.Now()
	shutdown.Go(func() { shutdownErr = n.shutdown() })
	t.Cleanup(shutdown.Wait)
	res := awaitCall(t, pending)
	if res.ApplicationProblemJSON503 == nil {
		t.Fatalf("pending call at the end of the drain: %s: %s, want 503", res.Status(), res.Body)
	}
	if d := time.Since(start); d < drain {
		t.Errorf("pending call answered %v after shutdown began, before the %v drain timeout", d, drain)
	}
	if code, reason := cli.expectClose(); code != 1001 || reason != "shutdown" {
		t.Errorf("after the drain the client got close %d with Kicked %q, want 1001 shutdown", code, reason)
	}
	shutdown.Wait()
	if shutdownErr != nil {
		t.Errorf("Shutdown: %v", shutdownErr)
	}
}

// TestCallDefaultTimeout: a call without timeout_ms waits 5 s for its
// reply, then answers 504. The one test that waits that long.
func TestCallDefaultTimeout(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	cli := dialWS(t, n, "?id=mute")
	start := time.Now()
	pending := callAsync(t, n.client(t), cli.id, client.CallRequest{Type: "Nothing"})
	cli.recv()
	select {
	case res := <-pending:
		if res == nil || res.ApplicationProblemJSON504 == nil {
			t.Fatalf("call without timeout_ms: %v, want 504", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer 30 s into a call without timeout_ms, want 504 after 5 s")
	}
	if d := time.Since(start); d < 5*time.Second {
		t.Fatalf("504 after %v, before the default 5 s", d)
	}
}
