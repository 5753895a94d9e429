package web_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/redistest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// openDashboard loads the dashboard at baseURL and waits until its event
// stream is live.
func openDashboard(t *testing.T, baseURL string) *browsertest.Tab {
	t.Helper()
	tab := browsertest.NewTab(t)
	tab.Navigate(baseURL + "/")
	tab.WaitFor(`document.getElementById("stream-state").textContent === "events live"`, "the event stream")
	return tab
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// rowSelector is the CSS selector of an agent's row in the agents table.
func rowSelector(id string) string {
	return `#agents-body tr[data-agent="` + id + `"]`
}

// hasRow is a JavaScript condition: the agents table has id's row.
func hasRow(id string) string {
	return `document.querySelector(` + jsString(rowSelector(id)) + `) !== null`
}

// textOf is a JavaScript expression: the text of the element with that id.
func textOf(id string) string {
	return `document.getElementById(` + jsString(id) + `).textContent`
}

// textContains is a JavaScript condition: the element with that id has text in its text.
func textContains(id, text string) string {
	return textOf(id) + `.includes(` + jsString(text) + `)`
}

// fill sets fields (by element id) as a user would: each gets its value,
// then the input and change events.
func fill(tab *browsertest.Tab, fields map[string]string) {
	for id, v := range fields {
		browsertest.Eval[bool](tab, `(() => {
			const el = document.getElementById(`+jsString(id)+`);
			el.value = `+jsString(v)+`;
			el.dispatchEvent(new Event("input", { bubbles: true }));
			el.dispatchEvent(new Event("change", { bubbles: true }));
			return true;
		})()`)
	}
}

// submit fills a form's fields and clicks its button.
func submit(t *testing.T, tab *browsertest.Tab, button string, fields map[string]string) {
	t.Helper()
	fill(tab, fields)
	tab.Do(chromedp.Click(chromedp.CSS(button)))
}

// allowStatus lets the browser's own log line for one refused request pass:
// Chromium logs every fetch answered 4xx or 5xx as a console error.
func allowStatus(tab *browsertest.Tab, status int, path string) {
	tab.AllowConsoleError(fmt.Sprintf(`^\S+ error: Failed to load resource: the server responded with a status of %d \([A-Za-z ]+\) \(http://127\.0\.0\.1:\d+%s:1\)$`, status, regexp.QuoteMeta(path)))
}

// A client that connects shows in the agents table, and goes when it
// leaves, without a reload.
func TestDashboardListsAgentsLive(t *testing.T) {
	node := servertest.Start(t)
	tab := openDashboard(t, node.URL())
	browsertest.Eval[bool](tab, `window.sameLoad = true`)
	tab.WaitFor(`document.querySelector("#nodes-table tbody tr") !== null`, "the node")
	tab.WaitFor(textContains("agents-body", "No agents connected"), "the empty list")

	alice := dialAgent(t, node, "alice", nil)
	tab.WaitFor(hasRow("alice"), "alice's row")
	cells := browsertest.Eval[[]string](tab, `[...document.querySelector(`+jsString(rowSelector("alice"))+`).cells].map(c => c.textContent)`)
	nodeID := browsertest.Eval[string](tab, `document.querySelector("#nodes-table tbody tr").dataset.node`)
	if cells[0] != "alice" || cells[1] != nodeID || cells[2] != "ws · json" {
		t.Errorf("alice's row %q, want alice on %s over ws · json", cells, nodeID)
	}
	tab.WaitFor(`document.querySelector("#nodes-table tbody td.num").textContent === "1"`, "the node to count 1 agent")
	tab.WaitFor(textContains("agents-summary", "of about 1 in the cluster"), "the total")

	alice.close()
	tab.WaitFor(`!(`+hasRow("alice")+`)`, "alice's row to go")
	if !browsertest.Eval[bool](tab, `window.sameLoad === true`) {
		t.Error("the page was reloaded")
	}
}

// The agents come a page at a time, with cursors; a page keeps current
// with the agents whose ids fall in it, and only those.
func TestDashboardPagesThroughAgents(t *testing.T) {
	node := servertest.Start(t)
	for i := range 210 {
		dialAgent(t, node, fmt.Sprintf("a%03d", i), nil)
	}
	tab := openDashboard(t, node.URL())
	ids := `[...document.querySelectorAll("#agents-body tr[data-agent]")].map(r => r.dataset.agent)`
	page := func(first, last string, n int) {
		t.Helper()
		tab.WaitFor(fmt.Sprintf(`(() => { const ids = %s; return ids.length === %d && ids[0] === %q && ids.at(-1) === %q; })()`, ids, n, first, last),
			fmt.Sprintf("the page %s…%s", first, last))
	}
	page("a000", "a099", 100)
	tab.WaitFor(textContains("agents-summary", "Page 1: agents 1–100 of about 210 in the cluster"), "page 1's summary")
	tab.Do(chromedp.Click(chromedp.CSS("#agents-next")))
	page("a100", "a199", 100)
	tab.WaitFor(textContains("agents-summary", "Page 2: agents 101–200"), "page 2's summary")

	dialAgent(t, node, "a150x", nil) // sorts on page 2
	dialAgent(t, node, "a050x", nil) // sorts on page 1
	tab.WaitFor(hasRow("a150x"), "a150x on page 2")
	dialAgent(t, node, "a120", nil) // replaces the session of a120: still one row
	tab.WaitFor(fmt.Sprintf(`%s.filter(id => id === "a120").length === 1 && %s.length === 101`, ids, ids), "a120 once")
	if browsertest.Eval[bool](tab, hasRow("a050x")) {
		t.Error("a050x, of page 1, shows on page 2")
	}

	tab.Do(chromedp.Click(chromedp.CSS("#agents-next")))
	page("a200", "a209", 10)
	if !browsertest.Eval[bool](tab, `document.getElementById("agents-next").disabled`) {
		t.Error("the last page offers a next one")
	}
	// Going back loads the page again: 100 agents from the same cursor.
	tab.Do(chromedp.Click(chromedp.CSS("#agents-prev")))
	page("a100", "a198", 100)
	tab.Do(chromedp.Click(chromedp.CSS("#agents-prev")))
	page("a000", "a098", 100)
	if !browsertest.Eval[bool](tab, hasRow("a050x")+` && document.getElementById("agents-prev").disabled`) {
		t.Error("page 1 lacks a050x, or offers a previous page")
	}

	// The prefix filters the page shown; the exact lookup finds one agent anywhere.
	submit(t, tab, "#agents-filter button", map[string]string{"filter-prefix": "a01"})
	page("a010", "a019", 10)
	submit(t, tab, "#agents-find button[type=submit]", map[string]string{"find-id": "a205"})
	page("a205", "a205", 1)
	tab.WaitFor(textContains("agents-summary", `Exact lookup of "a205"`), "the lookup's summary")
}

// A node with an API key shows nothing until the key is given: a wrong
// one is refused where the user can see it, the right one shows the
// agents, and "Forget API key" asks again.
func TestDashboardAsksForTheAPIKey(t *testing.T) {
	node := servertest.Start(t, "--api-key", "right-key")
	dialAgent(t, node, "keyed", nil)
	tab := browsertest.NewTab(t)
	allowStatus(tab, 401, "/nodes") // the dashboard's probe, before and with the wrong key
	tab.Navigate(node.URL() + "/")
	tab.WaitFor(`!document.getElementById("key-panel").hidden`, "the key prompt")
	if visible := browsertest.Eval[bool](tab, `!document.getElementById("dashboard").hidden || document.querySelector("#agents-body tr") !== null`); visible {
		t.Error("the dashboard shows before the key is given")
	}
	if focused := browsertest.Eval[string](tab, `document.activeElement.id`); focused != "key-input" {
		t.Errorf("the focus is on %q, want the key field", focused)
	}

	tab.Do(chromedp.SendKeys(chromedp.CSS("#key-input"), "wrong-key"), chromedp.Click(chromedp.CSS("#key-form button")))
	tab.WaitFor(textContains("key-message", "The node refused that key (401 Unauthorized: wrong or missing API key)"), "the refusal")
	if browsertest.Eval[bool](tab, `!document.getElementById("dashboard").hidden`) {
		t.Error("the dashboard shows after a wrong key")
	}

	tab.Do(chromedp.SendKeys(chromedp.CSS("#key-input"), "right-key\r"))
	tab.WaitFor(hasRow("keyed"), "the agents, with the right key")
	tab.WaitFor(`document.getElementById("stream-state").textContent === "events live"`, "the event stream, with the right key")

	// The key lasts as long as the tab: a reload does not ask again.
	tab.Navigate(node.URL() + "/")
	tab.WaitFor(hasRow("keyed"), "the agents after a reload")
	tab.Do(chromedp.Click(chromedp.CSS("#forget-key")))
	tab.WaitFor(`!document.getElementById("key-panel").hidden && document.getElementById("dashboard").hidden`, "the prompt after forgetting the key")
	if key := browsertest.Eval[string](tab, `sessionStorage.getItem("hotpot.apiKey") || ""`); key != "" {
		t.Errorf("the key %q is still stored", key)
	}
}

// The dashboard of one node shows the whole cluster: both nodes, and an
// agent connected to the other one.
func TestDashboardShowsTheCluster(t *testing.T) {
	redis := redistest.Start(t)
	a := servertest.Start(t, "--redis", redis.URL(), "--node-id", "node-a")
	b := servertest.Start(t, "--redis", redis.URL(), "--node-id", "node-b")
	tab := openDashboard(t, a.URL())
	tab.WaitFor(`[...document.querySelectorAll("#nodes-table tbody tr")].map(r => r.dataset.node).join() === "node-a,node-b"`, "both nodes")

	dialAgent(t, b, "far", nil)
	tab.WaitFor(hasRow("far"), "the agent on node-b")
	if got := browsertest.Eval[string](tab, `document.querySelector(`+jsString(rowSelector("far"))+`).cells[1].textContent`); got != "node-b" {
		t.Errorf("far is on %q, want node-b", got)
	}
	tab.WaitFor(`[...document.querySelectorAll('#events-body tr[data-type="agent.connected"]')].some(r => r.textContent.includes("far") && r.textContent.includes("node-b"))`, "far's agent.connected from node-b")

	// The node filter lists node-a's agents only: none.
	tab.WaitFor(`document.querySelector('#filter-node option[value="node-a"]') !== null`, "the node filter's choices")
	tab.Do(chromedp.SetValue(chromedp.CSS("#filter-node"), "node-a"), chromedp.Click(chromedp.CSS("#agents-filter button")))
	tab.WaitFor(`!(`+hasRow("far")+`) && `+textContains("agents-body", "No agents connected that match the filters"), "node-a's empty list")
}

// TestDashboardScreenshots saves the dashboard, with a few agents and
// events, in light and dark at 1280×800 and at a phone's width, into the
// directory $HOTPOT_DASHBOARD_SCREENSHOTS names (a temporary one without
// it, so that the run still drives both schemes and both widths). The
// pictures are for a person to look at.
func TestDashboardScreenshots(t *testing.T) {
	dir := os.Getenv("HOTPOT_DASHBOARD_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	node := servertest.Start(t)
	answer := func(call frame) frame { return frame{Data: json.RawMessage(`{"score": 1200}`)} }
	agents := map[string]*wsAgent{}
	for _, id := range []string{"alice", "bob", "carol", "dave"} {
		agents[id] = dialAgent(t, node, id, answer)
	}
	for _, path := range []string{"/agents/alice/groups/lobby", "/agents/bob/groups/lobby", "/agents/bob/groups/red"} {
		if status, body := node.Request(t, "PUT", path, ""); status != 204 {
			t.Fatalf("PUT %s: %d %s", path, status, body)
		}
	}
	for _, scheme := range []string{"light", "dark"} {
		tab := openDashboard(t, node.URL())
		tab.SetColorScheme(scheme)
		tab.WaitFor(hasRow("bob"), "the agents")
		tab.Do(chromedp.Click(chromedp.CSS(rowSelector("bob") + " button")))
		submit(t, tab, "#call button[type=submit]", map[string]string{"call-type": "GetScore", "call-data": `{"level": 3}`})
		tab.WaitFor(textContains("call-result", "200 OK"), "the reply")
		guest := dialAgent(t, node, "guest-"+scheme, nil)
		guest.send("Chat", `{"text": "gg"}`)
		agents["alice"].send("Move", `{"x": 3, "y": -1}`)
		agents["carol"].send("Chat", `{"text": "who is up for another round?"}`)
		guest.close()
		tab.WaitFor(`document.querySelectorAll("#events-body tr").length === 5`, "the events")
		browsertest.Eval[bool](tab, `(scrollTo(0, 0), document.activeElement.blur(), true)`)
		tab.Screenshot(filepath.Join(dir, "dashboard-"+scheme+".png"))
		tab.Do(chromedp.EmulateViewport(390, 844))
		tab.Screenshot(filepath.Join(dir, "dashboard-"+scheme+"-phone.png"))
		browsertest.Eval[bool](tab, `(document.getElementById("events-heading").scrollIntoView(), true)`)
		tab.Screenshot(filepath.Join(dir, "dashboard-"+scheme+"-phone-events.png"))
	}
}
