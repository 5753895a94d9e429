package web_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// eventually polls cond until it holds, failing the test if it does not
// within browsertest.Timeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(browsertest.Timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", browsertest.Timeout, what)
		}
	}
}

// openClient loads a page of node in a new tab and connects hotpot.js as
// agent id, with more options if given (JavaScript, as "codec: 'msgpack'");
// the page's window.hp is the client, window.seen what it saw.
func openClient(t *testing.T, node *servertest.Process, id string, options ...string) *browsertest.Tab {
	t.Helper()
	tab := browsertest.NewTab(t)
	tab.Navigate(node.URL() + "/playground")
	browsertest.Eval[bool](tab, `(async () => {
		const { connect, CallError } = await import("/hotpot.js");
		window.seen = { connectings: [], connects: [], disconnects: [], chats: [], frames: 0, texts: [] };
		const hp = connect({ id: "`+id+`", minDelayMs: 50, maxDelayMs: 200, `+strings.Join(options, ", ")+` });
		hp.on("connecting", (c) => seen.connectings.push(c));
		hp.on("connect", (w) => seen.connects.push(w));
		hp.on("disconnect", (d) => seen.disconnects.push(d));
		hp.on("Chat", (data) => seen.chats.push(data));
		hp.on("frame", (f) => { seen.frames++; seen.texts.push(f.direction + " " + f.text); });
		hp.onCall("Add", ({ a, b }) => a + b);
		hp.onCall("Slow", (data) => new Promise((done) => setTimeout(() => done({ late: data }), 50)));
		hp.onCall("Refuse", () => { throw new CallError(7, "not today"); });
		hp.onCall("Crash", () => { throw new Error("bug"); });
		window.hp = hp;
		return true;
	})()`)
	tab.WaitFor(`seen.connects.length === 1`, "the Welcome")
	return tab
}

func TestHotpotJSEventsAndSend(t *testing.T) {
	node := servertest.Start(t)
	tab := openClient(t, node, "alice")
	if w := browsertest.Eval[map[string]any](tab, `seen.connects[0]`); w["id"] != "alice" {
		t.Errorf("Welcome %v", w)
	}
	if status, body := node.Request(t, "POST", "/agents/alice/events", `{"type":"Chat","data":{"text":"hi"}}`); status != 202 {
		t.Fatalf("push: %d %s", status, body)
	}
	tab.WaitFor(`seen.chats.length === 1 && seen.chats[0].text === "hi"`, "the pushed Chat")
	// send: an Echo comes back as it went.
	tab.WaitFor(`(() => { hp.on("Echo", (d) => seen.echo = d); return hp.send("Echo", {n: 1}); })()`, "send to return true")
	tab.WaitFor(`seen.echo && seen.echo.n === 1`, "the Echo")
}

func TestHotpotJSAnswersCalls(t *testing.T) {
	node := servertest.Start(t)
	openClient(t, node, "bob")
	for _, tc := range []struct {
		body       string
		status     int
		wantInBody string
	}{
		{`{"type":"Add","data":{"a":2,"b":3}}`, 200, `{"data":5}`},
		{`{"type":"Slow","data":"x"}`, 200, `{"data":{"late":"x"}}`},
		{`{"type":"Refuse"}`, 502, `"code":7`},
		{`{"type":"Refuse"}`, 502, `"msg":"not today"`},
		{`{"type":"Crash"}`, 502, `"code":500`},
		{`{"type":"Unknown"}`, 502, `"code":404`},
	} {
		status, body := node.Request(t, "POST", "/agents/bob/call", tc.body)
		if status != tc.status || !strings.Contains(body, tc.wantInBody) {
			t.Errorf("call %s: %d %s, want %d with %s", tc.body, status, body, tc.status, tc.wantInBody)
		}
	}
}

// A "*" handler answers the calls of every type without a handler of its
// own.
func TestHotpotJSAnswersAnyCallType(t *testing.T) {
	node := servertest.Start(t)
	tab := openClient(t, node, "bea")
	browsertest.Eval[any](tab, `hp.onCall("*", (data, msg) => ({ any: msg.type, data }))`)
	for _, tc := range []struct{ body, want string }{
		{`{"type":"Add","data":{"a":2,"b":3}}`, `{"data":5}`},
		{`{"type":"Whatever","data":[1]}`, `{"data":{"any":"Whatever","data":[1]}}`},
		{`{"type":"Unknown"}`, `{"data":{"any":"Unknown"}}`},
	} {
		if status, body := node.Request(t, "POST", "/agents/bea/call", tc.body); status != 200 || strings.TrimSpace(body) != tc.want {
			t.Errorf("call %s: %d %s, want 200 %s", tc.body, status, body, tc.want)
		}
	}
}

// With codec msgpack the client speaks binary msgpack frames, and a web
// service sees the same JSON as from a JSON client, both ways.
func TestHotpotJSSpeaksMsgpack(t *testing.T) {
	node := servertest.Start(t)
	events := readEvents(t, node, "types=agent.message&agent=mia")
	tab := openClient(t, node, "mia", `codec: "msgpack"`)
	browsertest.Eval[any](tab, `hp.onCall("*", (data) => data)`)
	if w := browsertest.Eval[map[string]any](tab, `seen.connects[0]`); w["id"] != "mia" || w["keepalive"].(map[string]any)["limit_ms"] != 12000.0 {
		t.Errorf("Welcome %v", w)
	}
	if status, body := node.Request(t, "GET", "/agents/mia", ""); status != 200 || !strings.Contains(body, `"codec":"msgpack"`) {
		t.Errorf("GET /agents/mia: %d %s", status, body)
	}

	if status, body := node.Request(t, "POST", "/agents/mia/events", `{"type":"Chat","data":{"text":"hi ✓"}}`); status != 202 {
		t.Fatalf("push: %d %s", status, body)
	}
	tab.WaitFor(`seen.chats.length === 1 && seen.chats[0].text === "hi ✓"`, "the pushed Chat")
	if !browsertest.Eval[bool](tab, `seen.texts.includes('in {"type":"Chat","data":{"text":"hi ✓"}}')`) {
		t.Errorf("the frame event does not show the Chat as JSON: %v", browsertest.Eval[[]string](tab, `seen.texts`))
	}

	for _, c := range msgpackCases() {
		if len(c) > 30000 {
			continue // beyond the node's frame limit once it is a call
		}
		status, body := call(t, node, "mia", `{"type":"Echo back","data":`+c+`}`)
		var got struct{ Data json.RawMessage }
		if status != 200 || json.Unmarshal([]byte(body), &got) != nil || !sameJSON(t, string(got.Data), c) {
			t.Errorf("echo of %.60s: %d %.80s", c, status, body)
		}
	}
	for _, tc := range []struct {
		body       string
		status     int
		wantInBody string
	}{
		{`{"type":"Add","data":{"a":2,"b":3}}`, 200, `{"data":5}`},
		{`{"type":"Refuse"}`, 502, `"msg":"not today"`},
	} {
		if status, body := call(t, node, "mia", tc.body); status != tc.status || !strings.Contains(body, tc.wantInBody) {
			t.Errorf("call %s: %d %s, want %d with %s", tc.body, status, body, tc.status, tc.wantInBody)
		}
	}

	tab.WaitFor(`(() => { hp.on("Echo", (d) => seen.echo = d); return hp.send("Echo", { n: -1.5 }); })()`, "send to return true")
	tab.WaitFor(`seen.echo && seen.echo.n === -1.5`, "the Echo")
	browsertest.Eval[bool](tab, `hp.send("Move", { dx: 1, name: "ü" })`)
	if ev := nextEvent(t, events); ev.Type != "agent.message" || !strings.Contains(ev.Data, `"type":"Move","data":{"dx":1,"name":"ü"}`) {
		t.Errorf("event %+v", ev)
	}
}

// The client answers the node's Pings, so a quiet page keeps its session
// well past the keepalive limit.
func TestHotpotJSAnswersPings(t *testing.T) {
	// A limit of several intervals: a browser held up by a busy machine
	// still answers in time.
	node := servertest.Start(t, "--keepalive-interval", "100ms", "--keepalive-limit", "1s")
	tab := openClient(t, node, "quiet")
	tab.WaitFor(`seen.frames >= 30`, "fifteen Ping/Pong rounds, past the limit") // each Ping in, each Pong out
	if got := browsertest.Eval[int](tab, `seen.disconnects.length`); got != 0 {
		t.Errorf("%d disconnects: %v", got, browsertest.Eval[any](tab, `seen.disconnects`))
	}
}

// A client that keeps sending is never idle, so the node does not ping it;
// the client itself asks, and keeps its session past the keepalive limit.
func TestHotpotJSKeepsABusySender(t *testing.T) {
	node := servertest.Start(t, "--keepalive-interval", "100ms", "--keepalive-limit", "1s")
	tab := openClient(t, node, "busy")
	browsertest.Eval[any](tab, `window.sent = 0; window.sender = setInterval(() => hp.send("Move", { n: ++sent }), 20)`)
	tab.WaitFor(`sent >= 150`, "three seconds of sending") // three keepalive limits
	browsertest.Eval[any](tab, `clearInterval(sender)`)
	if got := browsertest.Eval[int](tab, `seen.disconnects.length`); got != 0 {
		t.Errorf("%d disconnects: %v", got, browsertest.Eval[any](tab, `seen.disconnects`))
	}
}

// After a transient close the client connects again; after a kick or a
// replacement it stays away; after close() it stays closed.
func TestHotpotJSReconnects(t *testing.T) {
	node := servertest.Start(t)
	tab := openClient(t, node, "carol")

	if status, _ := node.Request(t, "DELETE", "/agents/carol?reason=slow+consumer", ""); status != 204 {
		t.Fatalf("kick: %d", status)
	}
	tab.WaitFor(`seen.connects.length === 2`, "a reconnection after a transient kick")
	if d := browsertest.Eval[map[string]any](tab, `seen.disconnects[0]`); d["reason"] != "slow consumer" || d["reconnecting"] != true {
		t.Errorf("disconnect %v", d)
	}
	wantURL := "ws://" + node.HTTPAddr + "/ws?id=carol"
	connectings := browsertest.Eval[[]map[string]any](tab, `seen.connectings`)
	if len(connectings) != 2 {
		t.Errorf("%d connecting events, want 2: %v", len(connectings), connectings)
	}
	for i, c := range connectings {
		if c["url"] != wantURL || c["attempt"] != float64(i) {
			t.Errorf("connecting event %d: %v, want url %s, attempt %d", i, c, wantURL, i)
		}
	}

	if status, _ := node.Request(t, "DELETE", "/agents/carol", ""); status != 204 {
		t.Fatalf("kick: %d", status)
	}
	tab.WaitFor(`seen.disconnects.length === 2`, "the kick")
	if d := browsertest.Eval[map[string]any](tab, `seen.disconnects[1]`); d["reason"] != "kicked" || d["reconnecting"] != false {
		t.Errorf("disconnect %v", d)
	}
	if state := browsertest.Eval[string](tab, `hp.state`); state != "closed" {
		t.Errorf("state after a kick %q, want closed (no reconnection scheduled)", state)
	}
	eventually(t, "carol to be gone", func() bool {
		status, _ := node.Request(t, "GET", "/agents/carol", "")
		return status == 404
	})
}

// A node that goes away and comes back on the same address is found again.
func TestHotpotJSReconnectsToARestartedNode(t *testing.T) {
	node := servertest.Start(t)
	tab := openClient(t, node, "dave")
	// While the node is down, the WebSocket fails, and so does a late fetch of the page's icon.
	tab.AllowConsoleError(`WebSocket connection to .* failed`)
	tab.AllowConsoleError(`Failed to load resource: net::ERR_CONNECTION_REFUSED .*/favicon.svg`)
	addr := node.HTTPAddr
	node.Kill()
	tab.WaitFor(`seen.disconnects.length >= 1`, "the dropped connection")
	restarted := servertest.Start(t, "--http", addr)
	tab.WaitFor(`seen.connects.length === 2`, "a reconnection to the restarted node")
	if status, body := restarted.Request(t, "GET", "/agents/dave", ""); status != 200 {
		t.Errorf("GET /agents/dave: %d %s", status, body)
	}
}

func TestHotpotJSCloseIsForGood(t *testing.T) {
	node := servertest.Start(t)
	tab := openClient(t, node, "erin")
	browsertest.Eval[any](tab, `hp.close()`)
	tab.WaitFor(`seen.disconnects.length === 1`, "the close")
	var d struct {
		Code         int  `json:"code"`
		Reconnecting bool `json:"reconnecting"`
	}
	raw := browsertest.Eval[json.RawMessage](tab, `seen.disconnects[0]`)
	if err := json.Unmarshal(raw, &d); err != nil || d.Code != 1000 || d.Reconnecting {
		t.Errorf("disconnect %s (%v), want code 1000, not reconnecting", raw, err)
	}
	eventually(t, "erin to be gone", func() bool {
		status, _ := node.Request(t, "GET", "/agents/erin", "")
		return status == 404
	})
}
