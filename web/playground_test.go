package web_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// openPlayground loads node's playground in a new tab.
func openPlayground(t *testing.T, node *servertest.Process) *browsertest.Tab {
	t.Helper()
	tab := browsertest.NewTab(t)
	tab.Navigate(node.URL() + "/playground")
	tab.WaitFor(`document.querySelector("#rules .rule") !== null`, "the page's script")
	return tab
}

// js returns v as a JavaScript literal.
func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setField sets a form field as a user would, with input and change events.
func setField(t *testing.T, tab *browsertest.Tab, selector, value string) {
	t.Helper()
	browsertest.Eval[bool](tab, `(() => {
		const el = document.querySelector(`+js(t, selector)+`);
		el.value = `+js(t, value)+`;
		el.dispatchEvent(new Event("input", { bubbles: true }));
		el.dispatchEvent(new Event("change", { bubbles: true }));
		return true;
	})()`)
}

// text returns the text of the element selector matches.
func text(t *testing.T, tab *browsertest.Tab, selector string) string {
	t.Helper()
	return browsertest.Eval[string](tab, `document.querySelector(`+js(t, selector)+`).textContent`)
}

// waitText waits until the text of the element selector matches contains want.
func waitText(t *testing.T, tab *browsertest.Tab, selector, want string) {
	t.Helper()
	tab.WaitFor(`(document.querySelector(`+js(t, selector)+`)?.textContent ?? "").includes(`+js(t, want)+`)`,
		selector+" to say "+want)
}

// connectAs connects the playground as id, with token if not empty, and
// waits for the Welcome.
func connectAs(t *testing.T, tab *browsertest.Tab, id, token string) {
	t.Helper()
	setField(t, tab, "#agent-id", id)
	setField(t, tab, "#token", token)
	tab.Do(chromedp.Click("#connect"))
	tab.WaitFor(`document.querySelector("#state").dataset.state === "open"`, "the connection")
}

// logLines returns the text of the log's lines that selector matches.
func logLines(t *testing.T, tab *browsertest.Tab, selector string) []string {
	t.Helper()
	return browsertest.Eval[[]string](tab, `[...document.querySelectorAll(`+js(t, "#log "+selector)+`)].map((e) => e.textContent)`)
}

// call makes a REST call to agent id and returns the status and body.
func call(t *testing.T, node *servertest.Process, id, body string) (int, string) {
	t.Helper()
	status, got := node.Request(t, "POST", "/agents/"+id+"/call", body)
	return status, strings.TrimSpace(got)
}

func TestPlaygroundConnects(t *testing.T) {
	node := servertest.Start(t)
	tab := openPlayground(t, node)
	if got := text(t, tab, "#state"); got != "not connected" {
		t.Errorf("state before connecting %q", got)
	}
	setField(t, tab, "#agent-id", "no spaces")
	tab.Do(chromedp.Click("#connect"))
	waitText(t, tab, "#connect-error", "An agent id is 1 to 128 of")
	if got := text(t, tab, "#state"); got != "not connected" {
		t.Errorf("state after a bad id %q, want no connection tried", got)
	}
	// A user types an id and presses Enter.
	setField(t, tab, "#agent-id", "")
	tab.Do(chromedp.SendKeys("#agent-id", "alice"+kb.Enter))
	tab.WaitFor(`document.querySelector("#state").dataset.state === "open"`, "the connection")
	if got := text(t, tab, "#connect-error"); got != "" {
		t.Errorf("connected, and the page still says %q", got)
	}

	status, body := node.Request(t, "GET", "/agents/alice", "")
	if status != 200 {
		t.Fatalf("GET /agents/alice: %d %s", status, body)
	}
	var agent struct{ Node string }
	if err := json.Unmarshal([]byte(body), &agent); err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, tab, "#state"), "connected as alice on node "+agent.Node; got != want {
		t.Errorf("state %q, want %q", got, want)
	}
	welcome := logLines(t, tab, ".in.highlight .summary")
	if want := "Welcome: you are alice on node " + agent.Node + ", keepalive 5 s / 12 s"; len(welcome) != 1 || welcome[0] != want {
		t.Errorf("Welcome lines %q, want %q", welcome, want)
	}
	if browsertest.Eval[bool](tab, `document.querySelector("#connect").disabled === false`) {
		t.Error("Connect is enabled while connected")
	}
	if id := browsertest.Eval[string](tab, `document.activeElement.id`); id != "disconnect" {
		t.Errorf("connected, the focus is on %q, want Disconnect: the field it was on is disabled", id)
	}

	tab.Do(chromedp.Click("#disconnect"))
	waitText(t, tab, "#state", "disconnected: closed by you")
	eventually(t, "alice to be gone", func() bool {
		status, _ := node.Request(t, "GET", "/agents/alice", "")
		return status == 404
	})
	if browsertest.Eval[bool](tab, `document.querySelector("#connect").disabled`) {
		t.Error("Connect is disabled after disconnecting")
	}
	if id := browsertest.Eval[string](tab, `document.activeElement.id`); id != "connect" {
		t.Errorf("disconnected, the focus is on %q, want Connect", id)
	}
}

// Calls are answered by the rule for their type, else by the one for any
// type: a reply ("$data" standing for the call's data) or an error.
func TestPlaygroundAnswersCalls(t *testing.T) {
	node := servertest.Start(t)
	tab := openPlayground(t, node)
	connectAs(t, tab, "bob", "")

	for _, step := range []struct {
		do         func()
		body       string
		status     int
		wantInBody string
	}{
		{nil, `{"type":"Add","data":{"a":2}}`, 200, `{"data":{"echo":{"a":2}}}`},
		{func() { setField(t, tab, "#rule1-reply", `{"got": "$data", "from": ["playground", "$data"]}`) },
			`{"type":"Add","data":7}`, 200, `{"data":{"got":7,"from":["playground",7]}}`},
		{func() {
			tab.Do(chromedp.Click("#add-rule"))
			setField(t, tab, "#rule2-type", "GetScore")
			setField(t, tab, "#rule2-reply", `{"score": 1200}`)
		}, `{"type":"GetScore","data":{"level":3}}`, 200, `{"data":{"score":1200}}`},
		{func() {
			setField(t, tab, "#rule1-mode", "error")
			setField(t, tab, "#rule1-code", "7")
			setField(t, tab, "#rule1-msg", "not today")
		}, `{"type":"Other"}`, 502, `"code":7`},
		{nil, `{"type":"Other"}`, 502, `"msg":"not today"`},
		{nil, `{"type":"GetScore"}`, 200, `{"data":{"score":1200}}`},
		{func() { setField(t, tab, "#rule2-reply", `{"score": `) }, `{"type":"GetScore"}`, 502, `"code":500`},
	} {
		if step.do != nil {
			step.do()
		}
		status, body := call(t, node, "bob", step.body)
		if status != step.status || !strings.Contains(body, step.wantInBody) {
			t.Errorf("call %s: %d %s, want %d with %s", step.body, status, body, step.status, step.wantInBody)
		}
	}
	if got := text(t, tab, "#rules .rule:nth-child(2) .rule-error"); !strings.Contains(got, "not valid JSON") {
		t.Errorf("the broken reply shows %q, want it to say it is not valid JSON", got)
	}
	// Without its rule, a GetScore is answered by the rule for any type.
	tab.Do(chromedp.Click("#rules .rule:nth-child(2) .remove"))
	if status, body := call(t, node, "bob", `{"type":"GetScore"}`); status != 502 || !strings.Contains(body, `"code":7`) {
		t.Errorf("call after removing its rule: %d %s, want 502 with code 7", status, body)
	}
	if id := browsertest.Eval[string](tab, `document.activeElement.id`); id != "add-rule" {
		t.Errorf("after removing a rule the focus is on %q, want the add button", id)
	}

	calls := logLines(t, tab, ".in.call")
	replies := logLines(t, tab, ".out:is(.reply, .bad)")
	if len(calls) != 8 || len(replies) != 8 {
		t.Fatalf("%d calls and %d replies in the log, want 8 of each:\n%q\n%q", len(calls), len(replies), calls, replies)
	}
	if !strings.Contains(calls[2], `call GetScore (id `) || !strings.Contains(calls[2], `{"level":3}`) {
		t.Errorf("call line %q", calls[2])
	}
	if !strings.Contains(replies[2], "reply to call ") || !strings.Contains(replies[2], `"data":{"score":1200}`) {
		t.Errorf("reply line %q", replies[2])
	}
	if !strings.Contains(replies[3], "error reply to call ") || !strings.Contains(replies[3], `"code":7,"msg":"not today"`) {
		t.Errorf("error reply line %q", replies[3])
	}

	tab.Do(chromedp.Click("#pretty"))
	if got := logLines(t, tab, ".out.reply pre")[2]; !strings.HasPrefix(got, "{\n  \"type\": \"Reply\",\n") ||
		!strings.HasSuffix(got, "\n  \"data\": {\n    \"score\": 1200\n  }\n}") {
		t.Errorf("pretty reply:\n%s", got)
	}
	tab.Do(chromedp.Click("#clear-log"))
	if n := len(logLines(t, tab, ".line")); n != 0 || !browsertest.Eval[bool](tab, `document.querySelector("#log-empty").offsetParent !== null`) {
		t.Errorf("after Clear: %d lines, and the empty log's hint is not shown", n)
	}
}

// With the msgpack codec the page speaks binary frames and shows them as JSON.
func TestPlaygroundSpeaksMsgpack(t *testing.T) {
	node := servertest.Start(t)
	tab := openPlayground(t, node)
	setField(t, tab, "#codec", "msgpack")
	connectAs(t, tab, "gina", "")
	if status, body := node.Request(t, "GET", "/agents/gina", ""); status != 200 || !strings.Contains(body, `"codec":"msgpack"`) {
		t.Errorf("GET /agents/gina: %d %s", status, body)
	}
	if status, body := call(t, node, "gina", `{"type":"Hello","data":{"n":[1,-2.5,"✓"]}}`); status != 200 || body != `{"data":{"echo":{"n":[1,-2.5,"✓"]}}}` {
		t.Errorf("call: %d %s", status, body)
	}
	if lines := logLines(t, tab, ".in.call pre"); len(lines) != 1 || !strings.HasSuffix(lines[0], `,"data":{"n":[1,-2.5,"✓"]}}`) {
		t.Errorf("call lines %q", lines)
	}
	if lines := logLines(t, tab, ".note"); !strings.HasSuffix(lines[0], "/ws?id=gina with msgpack") {
		t.Errorf("notes %q", lines)
	}
}

// A message sent from the playground is an agent.message on /events; data
// that is not JSON is caught before anything is sent.
func TestPlaygroundSendsMessages(t *testing.T) {
	node := servertest.Start(t)
	tab := openPlayground(t, node)
	tab.Do(chromedp.Click("#send"))
	waitText(t, tab, "#send-error", "Not connected")

	events := readEvents(t, node, "types=agent.message&agent=carol")
	connectAs(t, tab, "carol", "")
	outFrames := func() int { return browsertest.Eval[int](tab, `document.querySelectorAll("#log .out").length`) }

	setField(t, tab, "#send-type", "Move")
	setField(t, tab, "#send-data", `{"dx": 1}`)
	tab.Do(chromedp.Click("#send"))
	setField(t, tab, "#send-data", `{"dx": 2`)
	before := outFrames()
	tab.Do(chromedp.Click("#send"))
	if got := text(t, tab, "#send-error"); !strings.Contains(got, "not valid JSON, nothing was sent") {
		t.Errorf("after sending bad JSON the page says %q", got)
	}
	if after := outFrames(); after != before {
		t.Errorf("bad JSON was sent: %d frames out before, %d after", before, after)
	}
	// Ctrl+Enter in the data sends too, and clears the error.
	setField(t, tab, "#send-data", `{"dx": 3}`)
	tab.Do(chromedp.Focus("#send-data"), chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	waitText(t, tab, "#send-error", "")

	for _, dx := range []int{1, 3} { // nothing in between: the bad one never left
		ev := nextEvent(t, events)
		var msg struct {
			Agent string
			Type  string
			Data  struct{ DX int }
		}
		if err := json.Unmarshal([]byte(ev.Data), &msg); err != nil {
			t.Fatalf("event %+v: %v", ev, err)
		}
		if ev.Type != "agent.message" || msg.Agent != "carol" || msg.Type != "Move" || msg.Data.DX != dx {
			t.Errorf("event %+v, want carol's Move with dx %d", ev, dx)
		}
	}
	if got := text(t, tab, "#send-error"); got != "" {
		t.Errorf("after a good send the page still says %q", got)
	}
}

func TestPlaygroundShowsPingPong(t *testing.T) {
	node := servertest.Start(t, "--keepalive-interval", "100ms", "--keepalive-limit", "300ms")
	tab := openPlayground(t, node)
	connectAs(t, tab, "dave", "")
	waitText(t, tab, "#log .highlight .summary", "keepalive 100 ms / 300 ms")
	tab.WaitFor(`document.querySelectorAll("#log .in.keepalive").length >= 3 &&
		document.querySelectorAll("#log .out.keepalive").length >= 3`, "three Pings and Pongs in the log")
	// Mostly the node pings and the page answers; a late node is pinged by the page.
	if lines := strings.Join(logLines(t, tab, ".keepalive"), "\n"); !strings.Contains(lines, `Ping{"type":"Ping"`) || !strings.Contains(lines, `Pong{"type":"Pong"`) {
		t.Errorf("keepalive lines:\n%s", lines)
	}
	// The log follows the newest line at the bottom, unless the user scrolled up.
	tab.WaitFor(`(() => { const s = document.querySelector("#log-scroll");
		return s.scrollHeight > s.clientHeight + 100 && s.scrollHeight - s.scrollTop - s.clientHeight < 2; })()`,
		"the log to overflow, scrolled to the bottom")
	browsertest.Eval[any](tab, `document.querySelector("#log-scroll").scrollTop = 0; window.linesThen = document.querySelectorAll("#log .line").length`)
	tab.WaitFor(`document.querySelectorAll("#log .line").length >= linesThen + 3`, "more lines")
	if top := browsertest.Eval[float64](tab, `document.querySelector("#log-scroll").scrollTop`); top != 0 {
		t.Errorf("the log scrolled to %v while the user looked at the top", top)
	}
	hidden := `[...document.querySelectorAll("#log .line")].filter((e) => e.offsetParent === null).length`
	if n := browsertest.Eval[int](tab, hidden); n != 0 {
		t.Errorf("%d lines hidden before hiding Ping/Pong", n)
	}
	tab.Do(chromedp.Click("#hide-keepalive"))
	if browsertest.Eval[bool](tab, `[...document.querySelectorAll("#log .line")].some((e) => e.offsetParent !== null) === false`) {
		t.Error("hiding Ping/Pong hid every line")
	}
	if n := browsertest.Eval[int](tab, `[...document.querySelectorAll("#log .keepalive")].filter((e) => e.offsetParent !== null).length`); n != 0 {
		t.Errorf("%d Ping/Pong lines still shown", n)
	}
	if got := text(t, tab, "#state"); !strings.HasPrefix(got, "connected as dave") {
		t.Errorf("state %q: answering Pings should keep the session", got)
	}
}

// A kick shows as Kicked with its reason; after a transient one the page
// says when it reconnects.
func TestPlaygroundShowsKicked(t *testing.T) {
	node := servertest.Start(t)
	tab := openPlayground(t, node)
	connectAs(t, tab, "erin", "")

	// The state says when it reconnects, for as long as it waits: keep every text it shows.
	browsertest.Eval[any](tab, `window.states = [];
		new MutationObserver(() => states.push(document.querySelector("#state").textContent))
			.observe(document.querySelector("#state"), { childList: true, characterData: true, subtree: true })`)
	if status, _ := node.Request(t, "DELETE", "/agents/erin?reason=slow+consumer", ""); status != 204 {
		t.Fatalf("kick: %d", status)
	}
	tab.WaitFor(`states.some((s) => /^disconnected: slow consumer, reconnecting in \d+ ms$/.test(s))`,
		"the state to say when it reconnects")
	tab.WaitFor(`document.querySelector("#state").textContent.startsWith("connected as erin")`, "the reconnection")

	if status, _ := node.Request(t, "DELETE", "/agents/erin?reason=go+away", ""); status != 204 {
		t.Fatalf("kick: %d", status)
	}
	waitText(t, tab, "#state", "disconnected: go away")
	kicked := logLines(t, tab, ".in.highlight.bad .summary")
	if len(kicked) != 2 || kicked[0] != "Kicked: slow consumer" || kicked[1] != "Kicked: go away" {
		t.Errorf("Kicked lines %q", kicked)
	}
	if got := text(t, tab, "#state"); got != "disconnected: go away" {
		t.Errorf("state %q, want no reconnection after a kick", got)
	}
}

// With --jwt-secret a good token connects as its subject; a bad one is
// refused, and the page says so.
func TestPlaygroundWithTokens(t *testing.T) {
	const secret = "a-test-secret-that-is-32-bytes-or-more"
	node := servertest.Start(t, "--jwt-secret", secret)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "frank",
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	tab := openPlayground(t, node)
	connectAs(t, tab, "", token)
	waitText(t, tab, "#state", "connected as frank on node ")
	if status, body := node.Request(t, "GET", "/agents/frank", ""); status != 200 {
		t.Errorf("GET /agents/frank: %d %s", status, body)
	}
	for _, line := range logLines(t, tab, ".line") {
		if strings.Contains(line, token) {
			t.Errorf("the log shows the token: %s", line)
		}
	}
	tab.Do(chromedp.Click("#disconnect"))

	tab.AllowConsoleError(`WebSocket connection to .* failed`)
	setField(t, tab, "#token", token+"x")
	tab.Do(chromedp.Click("#connect"))
	waitText(t, tab, "#state", "disconnected: refused: bad or missing token?")
	tab.Do(chromedp.Click("#disconnect"))
}
