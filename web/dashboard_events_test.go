package web_test

import (
	"encoding/json"
	"testing"

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
