package httpapi

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

// TestEventsResume: Last-Event-ID replays exactly what came after it,
// then the stream goes on live.
func TestEventsResume(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	live := openEvents(t, n, nil)
	cli := dialWS(t, n, "?id=r")
	for i := 1; i <= 5; i++ {
		cli.send(msg{Type: "M", ID: strconv.Itoa(i)})
	}
	if ev := live.nextEvent(); ev.Event != "agent.connected" {
		t.Fatalf("first event %s, want agent.connected", ev.Event)
	}
	sseID := map[string]string{} // message id → event id
	for range 5 {
		ev := live.nextEvent()
		sseID[*ev.agentEvent(t).ID] = ev.ID
	}

	resumed := openEvents(t, n, &client.StreamEventsParams{LastEventID: ptr(sseID["2"])})
	cli.send(msg{Type: "M", ID: "6"})
	for i, want := range []string{"3", "4", "5", "6"} {
		ev, ok := resumed.next(5 * time.Second)
		if !ok || ev.Comment != "" {
			t.Fatalf("item %d of the resumed stream: %+v, want message %s", i, ev, want)
		}
		d := ev.agentEvent(t)
		if d.ID == nil || *d.ID != want {
			t.Fatalf("item %d of the resumed stream: %s, want message %s", i, ev.Data, want)
		}
		if want != "6" && ev.ID != sseID[want] {
			t.Errorf("message %s replayed with id %s, live it had %s", want, ev.ID, sseID[want])
		}
	}
}

// TestEventsResumeUnknownID: an id older than the events kept, or unknown,
// replays from the oldest kept, after a comment saying so.
func TestEventsResumeUnknownID(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) { cfg.EventRetention = 5 })
	// A live subscriber may fall only half the retention behind: step.
	live := openEvents(t, n, nil)
	cli := dialWS(t, n, "?id=u")
	ids := []string{live.nextEvent().ID} // agent.connected
	for i := range 10 {
		cli.send(msg{Type: "M", ID: strconv.Itoa(i)})
		ids = append(ids, live.nextEvent().ID)
	}
	kept := ids[len(ids)-5:]

	for _, lastID := range []string{"1-0", "bogus", ids[0], "99999999999999-0"} {
		s := openEvents(t, n, &client.StreamEventsParams{LastEventID: ptr(lastID)})
		first, ok := s.next(5 * time.Second)
		if !ok || !strings.Contains(first.Comment, "Last-Event-ID") {
			t.Errorf("Last-Event-ID %s: first item %+v, want a comment about the replay", lastID, first)
		}
		for i, want := range kept {
			if ev := s.nextEvent(); ev.ID != want {
				t.Errorf("Last-Event-ID %s: replayed event %d has id %s, want %s", lastID, i, ev.ID, want)
			}
		}
	}
}

// TestEventsSlowSubscriber: a subscriber that does not read while many
// events happen holds up nothing; its stream ends with a comment saying it
// was too slow, and it can resume with Last-Event-ID.
func TestEventsSlowSubscriber(t *testing.T) {
	t.Parallel()
	n := startNode(t, func(cfg *config.Config) {
		cfg.EventRetention = 50
		cfg.RateLimit = 0 // the flood must reach /events, not be refused at the socket
	})
	c := n.client(t)
	slowTransport := &http.Transport{DialContext: (&net.Dialer{Control: withRcvbuf(4096)}).DialContext}
	t.Cleanup(slowTransport.CloseIdleConnections)
	slow := openEventsVia(t, n, &http.Client{Transport: &validatingTransport{t: t, base: slowTransport}}, nil)

	calm := dialWS(t, n, "?id=calm")
	calm.answerCalls(echoReply)
	flood := dialWS(t, n, "?id=flood")

	// Calls go on while the flood runs, and are answered: none waits for
	// the subscriber that does not read.
	stop := make(chan struct{})
	var calls sync.WaitGroup
	calls.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			res, err := c.CallAgentWithResponse(t.Context(), "calm", client.CallRequest{Type: "Q", TimeoutMs: ptr(10000)})
			if err != nil || res.JSON200 == nil {
				t.Errorf("call during the flood: %v %v", err, res.Status())
				return
			}
		}
	})
	pad := strings.Repeat("x", 4096)
	for i := range 2000 {
		flood.send(msg{Type: "Tick", Data: fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)})
	}
	flood.send(msg{Type: "Ping"})
	if m := flood.recv(); m.Type != "Pong" { // every Tick has been handled
		t.Fatalf("got %+v, want Pong", m)
	}
	close(stop)
	calls.Wait()
	// Every Tick is published too: a replay that raced the flood's tail
	// would rightly be cut as too slow.
	eventually(t, "the last Tick is in the log", func() bool {
		return bytes.Contains(n.logged(events.Filter{Agent: "flood"}), []byte(`{"i":1999,`))
	})

	slow.start()
	lastID, tooSlow := "", false
	for {
		ev, ok := slow.next(15 * time.Second)
		if !ok {
			break
		}
		if tooSlow {
			t.Errorf("%+v after the too-slow comment", ev)
		}
		switch {
		case strings.Contains(ev.Comment, "too slow"):
			tooSlow = true
		case ev.Comment == "":
			if lastID != "" && !idLess(lastID, ev.ID) {
				t.Errorf("event ids %s then %s", lastID, ev.ID)
			}
			lastID = ev.ID
		}
	}
	if !tooSlow {
		t.Fatal("the slow stream ended without a comment saying it was too slow")
	}

	// The resumed stream replays what is kept after lastID, up to the last
	// Tick, then goes on live: events that arrive while it replays come
	// after the replay, none missing (internal/events pins that they do not
	// cut it off, whenever they arrive).
	resumed := openEvents(t, n, &client.StreamEventsParams{LastEventID: &lastID})
	const during = 5
	for i := range during {
		flood.send(msg{Type: "During", ID: strconv.Itoa(i)})
	}
	readUntil := func(last func(client.AgentEvent) bool) {
		t.Helper()
		for i := 0; ; i++ {
			ev, ok := resumed.next(5 * time.Second)
			if !ok {
				t.Fatal("the resumed stream ended")
			}
			if ev.Comment != "" {
				if i > 0 {
					t.Fatalf("comment %q in the middle of the replay", ev.Comment)
				}
				continue
			}
			if !idLess(lastID, ev.ID) {
				t.Errorf("replayed event %s is not after %s", ev.ID, lastID)
			}
			lastID = ev.ID
			if last(ev.agentEvent(t)) {
				return
			}
		}
	}
	readUntil(func(d client.AgentEvent) bool { return strings.HasPrefix(string(d.Data), `{"i":1999,`) })
	next := 0
	readUntil(func(d client.AgentEvent) bool {
		if d.Type == nil || *d.Type != "During" || d.ID == nil || *d.ID != strconv.Itoa(next) {
			t.Fatalf("after the replay: %s %s, want During %d", ptrOr(d.Type), ptrOr(d.ID), next)
		}
		next++
		return next == during
	})
}

// ptrOr returns *p, or "<none>" when p is nil.
func ptrOr(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}
