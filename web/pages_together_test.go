package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// The dashboard's call form reaches a client that answers from the
// playground page, in another tab, and shows its reply; the playground's
// log shows the call and its reply.
func TestDashboardCallsThePlayground(t *testing.T) {
	node := servertest.Start(t)
	playground := openPlayground(t, node)
	connectAs(t, playground, "browser-bob", "")
	setField(t, playground, "#rule1-reply", `{"answered": "from the playground", "got": "$data"}`)

	dashboard := openDashboard(t, node.URL())
	dashboard.WaitFor(hasRow("browser-bob"), "the playground's agent")
	dashboard.Do(chromedp.Click(chromedp.CSS(rowSelector("browser-bob") + " button")))
	submit(t, dashboard, "#call button[type=submit]", map[string]string{"call-type": "GetScore", "call-data": `{"level": 3}`})
	dashboard.WaitFor(textContains("call-result", "200 OK: browser-bob replied")+` && `+
		textContains("call-result", `"answered": "from the playground"`)+` && `+
		textContains("call-result", `"level": 3`), "the playground's reply on the dashboard")
	waitText(t, playground, "#log", "call GetScore")
	waitText(t, playground, "#log", "reply to call")
}
