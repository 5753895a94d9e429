package web_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// readmePage returns the page of the README's "Try it in a browser"
// section: its first html block.
func readmePage(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Try it in a browser")
	_, block, ok2 := strings.Cut(section, "```html\n")
	page, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`README.md has no html block under "## Try it in a browser"`)
	}
	return page
}

// The README's own page, served from another origin as the README says,
// connects through the node's hotpot.js, answers a call, shows a push and
// sends a message.
func TestReadmePageWorksAsWritten(t *testing.T) {
	page := readmePage(t)
	site := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}))
	node := servertest.Start(t, "--allowed-origins", site.Listener.Addr().String())
	// The README's addresses are the defaults; this node is elsewhere.
	page = strings.ReplaceAll(page, "127.0.0.1:8848", node.HTTPAddr)
	site.Start()
	defer site.Close()

	events := readEvents(t, node, "types=agent.message")

	tab := browsertest.NewTab(t)
	tab.Navigate(site.URL + "/page.html")
	tab.WaitFor(`document.body.textContent.includes("connected as web-1 on node")`, "the page to connect")

	if status, body := node.Request(t, "POST", "/agents/web-1/call", `{"type":"Add","data":{"a":2,"b":3}}`); status != 200 || strings.TrimSpace(body) != `{"data":5}` {
		t.Errorf("call Add: %d %s, want 200 {\"data\":5}", status, body)
	}
	if status, body := node.Request(t, "POST", "/agents/web-1/events", `{"type":"Chat","data":{"text":"hello"}}`); status != 202 {
		t.Errorf("push Chat: %d %s", status, body)
	}
	tab.WaitFor(`document.body.textContent.includes("chat: hello.")`, "the Chat on the page")

	tab.Do(chromedp.Click(chromedp.CSS("p")))
	for !strings.Contains(nextEvent(t, events).Data, `"type":"Clicked"`) {
		// an earlier message of the page's
	}
}
