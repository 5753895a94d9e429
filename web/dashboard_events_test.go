package web_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// The event-stream parser reads what the standard allows: CRLF, LF or CR
// line ends, even split across chunks; data on several lines; comments;
// fields without a space; an id that holds until the next one; and it
// drops an event that the stream ends in the middle of.
func TestDashboardParsesEventStreams(t *testing.T) {
	node := servertest.Start(t)
	tab := browsertest.NewTab(t)
	tab.Navigate(node.URL() + "/playground")
	for _, tc := range []struct {
		name   string
		chunks []string
		want   string
	}{
		{"one event", []string{"event: agent.connected\nid: 1-0\ndata: {\"agent\":\"a\"}\n\n"}, `E agent.connected 1-0 {"agent":"a"}`},
		{"split anywhere", []string{"ev", "ent: x\r", "\nid: 2-0\r\nda", "ta: 1\r\n", "\r\n"}, `E x 2-0 1`},
		{"CR line ends", []string{"event: x\rdata: 1\r\r"}, `E x  1`},
		{"data on two lines", []string{"data: a\ndata: b\n\n"}, "E message  a\nb"},
		{"no space after the colon", []string{"event:x\nid:3-0\ndata:1\n\n"}, `E x 3-0 1`},
		{"comments", []string{": ping\n\n: Last-Event-ID \"9\" is unknown\n\n"}, "C ping|C Last-Event-ID \"9\" is unknown"},
		{"the id holds", []string{"id: 4-0\ndata: 1\n\ndata: 2\n\n"}, `E message 4-0 1|E message 4-0 2`},
		{"no data, no event", []string{"event: x\nid: 5-0\n\ndata: 1\n\n"}, `E message 5-0 1`},
		{"cut in the middle", []string{"data: 1\n\ndata: 2\n"}, `E message  1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks, _ := json.Marshal(tc.chunks)
			got := browsertest.Eval[string](tab, `import("/dashboard-sse.js").then(({ EventStreamParser }) => {
				const p = new EventStreamParser();
				return `+string(chunks)+`.flatMap((c) => p.feed(c))
					.map((x) => "comment" in x ? "C " + x.comment : ["E", x.event.event, x.event.id, x.event.data].join(" "))
					.join("|");
			})`)
			if got != tc.want {
				t.Errorf("parsed %q as %q, want %q", tc.chunks, got, tc.want)
			}
		})
	}
}

// The event log filters by type and agent, and holds new events back
// while paused.
func TestDashboardEventLogFiltersAndPauses(t *testing.T) {
	node := servertest.Start(t)
	tab := openDashboard(t, node.URL())
	x1 := dialAgent(t, node, "x1", nil)
	x2 := dialAgent(t, node, "x2", nil)
	rows := `[...document.querySelectorAll("#events-body tr")].map(r => r.dataset.type + " " + r.querySelector("button").textContent).join()`
	x1.send("Move", `{"x": 1}`)
	tab.WaitFor(rows+` === "agent.message x1,agent.connected x2,agent.connected x1"`, "three events, newest first")
	x2.send("Move", `{"x": 2}`) // sent after x1's arrived: two connections keep no order between them
	tab.WaitFor(rows+` === "agent.message x2,agent.message x1,agent.connected x2,agent.connected x1"`, "four events, newest first")

	fill(tab, map[string]string{"events-type": "agent.message"})
	tab.WaitFor(rows+` === "agent.message x2,agent.message x1"`, "the messages only")
	fill(tab, map[string]string{"events-agent": "x1"})
	tab.WaitFor(rows+` === "agent.message x1"`, "x1's messages only")
	tab.WaitFor(textContains("events-count", "1 shown of 4 kept"), "the count")

	tab.Do(chromedp.Click(chromedp.CSS("#events-pause")))
	x1.send("Move", `{"x": 3}`)
	tab.WaitFor(textContains("events-count", "Paused: 1 new event not shown yet."), "the paused count")
	if got := browsertest.Eval[string](tab, rows); got != "agent.message x1" {
		t.Errorf("while paused the log shows %q", got)
	}
	tab.Do(chromedp.Click(chromedp.CSS("#events-pause")))
	tab.WaitFor(rows+` === "agent.message x1,agent.message x1"`, "the held event after resuming")
}

// The event log shows what clients send, and keeps every event through
// cuts of the stream: each id once, in order, as the node sent them.
func TestDashboardEventLogSurvivesCuts(t *testing.T) {
	node := servertest.Start(t)
	proxy := startProxy(t, node.HTTPAddr)
	tab := openDashboard(t, proxy.URL())
	// What Chromium logs when the proxy resets the stream's connection.
	tab.AllowConsoleError(`^\S+ error: Failed to load resource: net::ERR_CONNECTION_RESET \(http://127\.0\.0\.1:\d+/events:1\)$`)
	events := readEvents(t, node, "")

	talker := dialAgent(t, node, "talker", nil)
	talker.send("Hello", `{"n": 0, "text": "hi"}`)
	tab.WaitFor(`(() => {
		const row = document.querySelector('#events-body tr[data-type="agent.message"]');
		return row !== null && row.textContent.includes("Hello") && row.textContent.includes('"text":"hi"');
	})()`, "the Hello in the log")

	// Cut the stream three times while the client keeps talking.
	stop := make(chan struct{})
	sent := make(chan int, 1) // how many Hellos in all
	go func() {
		for n := 1; ; n++ {
			select {
			case <-stop:
				sent <- n
				return
			case <-t.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
				talker.send("Hello", fmt.Sprintf(`{"n": %d}`, n))
			}
		}
	}()
	for cut := 1; cut <= 3; cut++ {
		tab.WaitFor(`document.querySelectorAll("#events-body tr").length > `+fmt.Sprint(cut*30), "more events")
		if n := proxy.cutEvents(); n != 1 {
			t.Fatalf("cut %d streams, want 1", n)
		}
		tab.WaitFor(textContains("stream-notice", fmt.Sprintf("cut %s;", map[int]string{1: "once", 2: "2 times", 3: "3 times"}[cut]))+
			` && `+textContains("stream-notice", "resumed at"), fmt.Sprintf("the notice of resume %d", cut))
	}
	close(stop)
	messages := <-sent

	var want []string
	for len(want) < messages+1 { // agent.connected, then the messages
		want = append(want, nextEvent(t, events).ID)
	}
	tab.WaitFor(fmt.Sprintf(`document.querySelectorAll("#events-body tr").length >= %d`, len(want)), "every event in the log")
	got := browsertest.Eval[[]string](tab, `[...document.querySelectorAll("#events-body tr")].map(r => r.dataset.id).reverse()`)
	if !slices.Equal(got, want) {
		t.Errorf("the log has %d events, the node sent %d; first difference at %d", len(got), len(want), firstDifference(got, want))
	}
	notice := browsertest.Eval[string](tab, textOf("stream-notice"))
	if !regexp.MustCompile(`from id \d+-\d+: [1-9]\d* events? replayed`).MatchString(notice) {
		t.Errorf("the notice %q does not say where the stream resumed and what was replayed", notice)
	}
}
