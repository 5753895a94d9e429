package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/client"
)

// sseEvent is one event of an SSE stream, or one comment line.
type sseEvent struct {
	Event, ID string
	Data      []byte
	// Comment is the text of a comment line (after the colon); the other
	// fields are then empty.
	Comment string
}

// sseStream reads GET /events. Its reader goroutine, once started, parses
// the stream into events; it stops, and is waited for, when the test ends.
type sseStream struct {
	t         testing.TB
	resp      *http.Response
	ch        chan sseEvent // closed when the stream ends
	stop      chan struct{}
	wg        sync.WaitGroup
	startOnce sync.Once
}

// openEvents opens GET /events with params and starts reading it.
func openEvents(t testing.TB, n *testNode, params *client.StreamEventsParams) *sseStream {
	t.Helper()
	s := openEventsVia(t, n, n.httpClient(t), params)
	s.start()
	return s
}

// openEventsVia opens GET /events over hc without reading the stream. It
// fails t unless the response headers arrive within a few seconds, before
// any event, and say 200 text/event-stream.
func openEventsVia(t testing.TB, n *testNode, hc *http.Client, params *client.StreamEventsParams) *sseStream {
	t.Helper()
	opts := []client.ClientOption{client.WithHTTPClient(hc)}
	if n.cfg.APIKey != "" {
		opts = append(opts, client.WithRequestEditorFn(bearer(n.cfg.APIKey)))
	}
	c, err := client.NewClient(n.url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if params == nil {
		params = &client.StreamEventsParams{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	late := time.AfterFunc(5*time.Second, cancel)
	resp, err := c.StreamEvents(ctx, params)
	if !late.Stop() {
		t.Fatal("GET /events: no response headers within 5s")
	}
	if err != nil {
		cancel()
		t.Fatalf("GET /events: %v", err)
	}
	s := &sseStream{t: t, resp: resp, ch: make(chan sseEvent, 1024), stop: make(chan struct{})}
	t.Cleanup(func() {
		close(s.stop)
		cancel()
		resp.Body.Close()
		s.wg.Wait()
	})
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		t.Fatalf("GET /events: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return s
}

// start starts the reader, once.
func (s *sseStream) start() {
	s.startOnce.Do(func() { s.wg.Go(s.read) })
}

func (s *sseStream) read() {
	defer close(s.ch)
	br := bufio.NewReader(s.resp.Body)
	var p sseParser
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		out := p.line(line)
		if out != nil {
			select {
			case s.ch <- *out:
			case <-s.stop:
				return
			}
		}
	}
}

// sseParser reads an event stream a line at a time.
type sseParser struct {
	ev sseEvent // the event read so far
}

// line takes one line, with or without its "\n", and returns the event
// or comment it completes, if any.
func (p *sseParser) line(line string) *sseEvent {
	line = strings.TrimSuffix(line, "\n")
	switch {
	case line == "":
		if p.pending() {
			ev := p.ev
			p.ev = sseEvent{}
			return &ev
		}
	case strings.HasPrefix(line, ":"):
		return &sseEvent{Comment: strings.TrimSpace(line[1:])}
	default:
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			p.ev.Event = value
		case "id":
			p.ev.ID = value
		case "data":
			if p.ev.Data != nil {
				p.ev.Data = append(p.ev.Data, '\n')
			}
			p.ev.Data = append(p.ev.Data, value...)
		}
	}
	return nil
}

// pending reports whether an event has begun that no blank line has
// ended yet.
func (p *sseParser) pending() bool {
	return p.ev.Event != "" || p.ev.ID != "" || p.ev.Data != nil
}

// next returns the next event or comment; ok is false once the stream has
// ended.
func (s *sseStream) next(timeout time.Duration) (ev sseEvent, ok bool) {
	s.t.Helper()
	select {
	case ev, ok = <-s.ch:
		return ev, ok
	case <-time.After(timeout):
		s.t.Fatalf("GET /events: nothing within %v", timeout)
	}
	return sseEvent{}, false
}

// poll is next without failing when nothing comes: ok is false then too.
func (s *sseStream) poll(timeout time.Duration) (ev sseEvent, ok bool) {
	select {
	case ev, ok = <-s.ch:
		return ev, ok
	case <-time.After(timeout):
		return sseEvent{}, false
	}
}

// nextEvent returns the next event, skipping comments.
func (s *sseStream) nextEvent() sseEvent {
	s.t.Helper()
	for {
		ev, ok := s.next(5 * time.Second)
		if !ok {
			s.t.Fatal("GET /events: the stream ended")
		}
		if ev.Comment == "" {
			return ev
		}
	}
}

// agentEvent checks ev against the spec (an EventType, AgentEvent data,
// an id) and decodes its data.
func (ev sseEvent) agentEvent(t testing.TB) client.AgentEvent {
	t.Helper()
	if !client.EventType(ev.Event).Valid() {
		t.Errorf("event type %q is not an EventType of the spec", ev.Event)
	}
	if _, _, ok := parseEventID(ev.ID); !ok {
		t.Errorf("event %s has id %q, want ms-seq", ev.Event, ev.ID)
	}
	if err := validateSchema("AgentEvent", ev.Data); err != nil {
		t.Errorf("event %s data %s does not match AgentEvent: %v", ev.Event, ev.Data, err)
	}
	var d client.AgentEvent
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatalf("event data %s: %v", ev.Data, err)
	}
	return d
}

// parseEventID reads an event id of the form "ms-seq".
func parseEventID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, found && err1 == nil && err2 == nil
}

// idLess reports whether event id a comes before b.
func idLess(a, b string) bool {
	ams, aseq, _ := parseEventID(a)
	bms, bseq, _ := parseEventID(b)
	return ams < bms || ams == bms && aseq < bseq
}
