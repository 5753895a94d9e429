package web_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// sseEvent is one event of /events.
type sseEvent struct {
	ID   string // the last id: line seen, this event's or an earlier one's
	Type string // the event: line
	Data string // the data: lines, joined by newlines
}

// maxUnreadEvents is how many events a test may leave unread on the
// stream: more than any test makes, so a test that reads late never
// holds the node's stream back.
const maxUnreadEvents = 10000

// readEvents follows node's /events?query until the test ends. It returns
// once the stream's headers are in, so every event after that is on the
// channel, in order; the channel is closed when the stream ends.
func readEvents(t *testing.T, node *servertest.Process, query string) <-chan sseEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", node.URL()+"/events?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	events := make(chan sseEvent, maxUnreadEvents)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(events)
		defer resp.Body.Close()
		// One field per line; a blank line ends an event; a line starting
		// with ":" is a comment (the ping).
		var ev sseEvent
		var data []string
		for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
			line := sc.Text()
			if line == "" {
				if data != nil {
					ev.Data = strings.Join(data, "\n")
					select {
					case events <- ev:
					case <-t.Context().Done():
						return
					}
				}
				ev.Type, data = "", nil
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Type = value
			case "data":
				data = append(data, value)
			}
		}
	}()
	t.Cleanup(func() { <-done })
	return events
}

// nextEvent returns the next event, failing the test if none comes.
func nextEvent(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(browsertest.Timeout):
		t.Fatalf("no event within %v", browsertest.Timeout)
	}
	return sseEvent{}
}
