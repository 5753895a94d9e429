package web_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// The call form shows a client's reply, and what a refusal means: 404
// for an agent that is not there, 502 with the client's code and msg, 504
// when it does not answer within the form's timeout (its late reply goes
// to no later call); bad JSON is caught before anything is sent.
func TestDashboardCallForm(t *testing.T) {
	node := servertest.Start(t)
	gaveUp := make(chan struct{}) // closed once the page shows that the caller gave up on Wait
	bob := dialAgent(t, node, "bob", func(call frame) frame {
		switch call.Type {
		case "Add":
			var in struct{ A, B int }
			json.Unmarshal(call.Data, &in)
			return frame{Data: json.RawMessage(fmt.Sprint(in.A + in.B))}
		case "Refuse":
			return frame{Code: 7, Msg: "not today"}
		}
		select { // Wait: answered only after the caller gave up
		case <-gaveUp:
		case <-t.Context().Done():
		}
		return frame{}
	})
	tab := openDashboard(t, node.URL())
	allowStatus(tab, 404, "/agents/nobody/call")
	allowStatus(tab, 502, "/agents/bob/call")
	allowStatus(tab, 504, "/agents/bob/call")
	call := func(fields map[string]string, want string) string {
		t.Helper()
		before := browsertest.Eval[string](tab, textOf("call-result"))
		submit(t, tab, "#call button[type=submit]", fields)
		tab.WaitFor(textOf("call-result")+` !== `+jsString(before)+` && !`+textContains("call-result", "Sending"), "the call's outcome")
		got := browsertest.Eval[string](tab, textOf("call-result"))
		if !strings.Contains(got, want) {
			t.Errorf("call %v shows %q, want it to say %q", fields, got, want)
		}
		return got
	}

	tab.WaitFor(hasRow("bob"), "bob's row")
	tab.Do(chromedp.Click(chromedp.CSS(rowSelector("bob") + " button")))
	if got := browsertest.Eval[string](tab, `document.getElementById("call-agent").value`); got != "bob" {
		t.Errorf("picking bob's row filled the agent field with %q", got)
	}
	got := call(map[string]string{"call-type": "Add", "call-data": `{"a": 2, "b": 3}`}, "200 OK: bob replied")
	if !strings.Contains(got, `"data": 5`) {
		t.Errorf("the reply %q does not show data 5", got)
	}
	<-bob.calls

	call(map[string]string{"call-agent": "nobody", "call-type": "Add"}, "404 Not Found: no such agent")
	call(map[string]string{"call-agent": "bob", "call-type": "Refuse", "call-data": ""}, `the client answered with an error: code 7, msg "not today"`)
	<-bob.calls
	started := time.Now()
	call(map[string]string{"call-type": "Wait", "call-timeout": "100"}, "504 Gateway Timeout: the client did not answer in time")
	if took := time.Since(started); took >= 5*time.Second {
		t.Errorf("the 504 took %v: the call waited the default 5 s, not the form's 100 ms", took)
	}
	close(gaveUp) // the late reply must not reach a later call
	<-bob.calls

	call(map[string]string{"call-type": "Add", "call-data": `{"a": 2,`, "call-timeout": "5000"}, "Data is not valid JSON, so nothing was sent")
	if focused := browsertest.Eval[string](tab, `document.activeElement.id`); focused != "call-data" {
		t.Errorf("after bad JSON the focus is on %q, want the data field", focused)
	}
	call(map[string]string{"call-type": "Add", "call-data": `{"a": 1, "b": 1}`}, `"data": 2`)
	if c := <-bob.calls; !strings.Contains(string(c.Data), `"b":1`) {
		t.Errorf("the call after the bad JSON carried %s: the bad one went out", c.Data)
	}
}

// The push, group, broadcast and kick forms do what they say, and say
// what came of it.
func TestDashboardActionForms(t *testing.T) {
	node := servertest.Start(t)
	p1 := dialAgent(t, node, "p1", nil)
	p2 := dialAgent(t, node, "p2", nil)
	tab := openDashboard(t, node.URL())
	tab.WaitFor(hasRow("p1")+" && "+hasRow("p2"), "both agents")
	act := func(tabID, button string, fields map[string]string, resultID, want string) {
		t.Helper()
		tab.Do(chromedp.Click(chromedp.CSS("#tab-" + tabID)))
		before := browsertest.Eval[string](tab, textOf(resultID))
		submit(t, tab, button, fields)
		tab.WaitFor(textOf(resultID)+` !== `+jsString(before)+` && !`+textContains(resultID, "Sending"), "the outcome in "+resultID)
		if got := browsertest.Eval[string](tab, textOf(resultID)); !strings.Contains(got, want) {
			t.Errorf("%s shows %q, want %q", resultID, got, want)
		}
	}

	act("push", "#push button[type=submit]", map[string]string{"push-agent": "p1", "push-type": "Notice", "push-data": `{"text": "your turn"}`}, "push-result", "202 Accepted: queued for p1")
	if f := p1.next(); f.Type != "Notice" || string(f.Data) != `{"text":"your turn"}` {
		t.Errorf("p1 got %+v, want the Notice", f)
	}

	act("groups", `#groups button[value="join"]`, map[string]string{"groups-agent": "p1", "groups-group": "red"}, "groups-result", "204: p1 joined red")
	tab.WaitFor(`document.querySelector(`+jsString(rowSelector("p1"))+`).cells[3].textContent === "red"`, "p1's groups to show red")

	act("gpush", "#gpush button[type=submit]", map[string]string{"gpush-group": "red", "gpush-type": "RoundStarted", "gpush-data": `{"round": 2}`}, "gpush-result", "200 OK: delivered to 1 agent of red")
	if f := p1.next(); f.Type != "RoundStarted" {
		t.Errorf("p1 got %+v, want the RoundStarted", f)
	}

	act("bcast", "#bcast button[type=submit]", map[string]string{"bcast-type": "ServerNotice", "bcast-data": `"maintenance"`}, "bcast-result", "200 OK: delivered to 2 agents on 1 node")
	for _, a := range []*wsAgent{p1, p2} {
		if f := a.next(); f.Type != "ServerNotice" || string(f.Data) != `"maintenance"` {
			t.Errorf("got %+v, want the ServerNotice", f)
		}
	}
	tab.Do(chromedp.Click(chromedp.CSS("#bcast-async")))
	act("bcast", "#bcast button[type=submit]", map[string]string{"bcast-type": "Later"}, "bcast-result", "202 Accepted")
	for _, a := range []*wsAgent{p1, p2} {
		if f := a.next(); f.Type != "Later" {
			t.Errorf("got %+v, want the async broadcast", f)
		}
	}

	act("groups", `#groups button[value="leave"]`, map[string]string{"groups-agent": "p1", "groups-group": "red"}, "groups-result", "204: p1 left red")
	tab.WaitFor(`document.querySelector(`+jsString(rowSelector("p1"))+`).cells[3].textContent === ""`, "p1's groups to be empty")

	act("kick", "#kick button[type=submit]", map[string]string{"kick-agent": "p2", "kick-reason": "bye now"}, "kick-result", "204: p2 was kicked (bye now)")
	if f := p2.next(); f.Type != "Kicked" || !strings.Contains(string(f.Data), `"bye now"`) {
		t.Errorf("p2 got %+v, want Kicked with the reason", f)
	}
	tab.WaitFor(`!(`+hasRow("p2")+`)`, "p2's row to go")
	tab.WaitFor(`[...document.querySelectorAll('#events-body tr[data-type="agent.disconnected"]')].some(r => r.textContent.includes("reason: bye now"))`, "the kick in the event log")
	if !browsertest.Eval[bool](tab, hasRow("p1")) {
		t.Error("p1's row went too")
	}
}
