package events

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// frames splits SSE text into its frames.
func frames(buf []byte) []string {
	var out []string
	for _, f := range strings.Split(string(buf), "\n\n") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// idOf returns the id line of a frame.
func idOf(frame string) string {
	for _, line := range strings.Split(frame, "\n") {
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			return id
		}
	}
	return ""
}

func appendN(l *Log, n int, agent string) {
	for i := range n {
		appendNow(l, Event{Type: Message, Agent: agent, Node: "n1", Time: time.Unix(1700000000, 0), MessageType: fmt.Sprint("M", i)})
	}
}

func TestSSEFrame(t *testing.T) {
	ts := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    Event
		want string
	}{
		{"connected", Event{Type: Connected, Agent: "p1", Node: "n1", Time: ts},
			"event: agent.connected\nid: 5-0\ndata: {\"agent\":\"p1\",\"node\":\"n1\",\"ts\":\"2026-11-25T03:00:00Z\"}\n\n"},
		{"disconnected", Event{Type: Disconnected, Agent: "p1", Node: "n1", Time: ts, Reason: "kicked"},
			"event: agent.disconnected\nid: 5-0\ndata: {\"agent\":\"p1\",\"node\":\"n1\",\"ts\":\"2026-11-25T03:00:00Z\",\"reason\":\"kicked\"}\n\n"},
		{"json message", Event{Type: Message, Agent: "p1", Node: "n1", Time: ts, MessageType: "Chat", MessageID: "7", Data: codec.Payload{JSON: []byte("{\"a\": [1, 2]}")}},
			"event: agent.message\nid: 5-0\ndata: {\"agent\":\"p1\",\"node\":\"n1\",\"ts\":\"2026-11-25T03:00:00Z\",\"type\":\"Chat\",\"id\":\"7\",\"data\":{\"a\":[1,2]}}\n\n"},
		{"bytes message", Event{Type: Message, Agent: "p1", Node: "n1", Time: ts, MessageType: "Blob", Data: codec.Payload{Bytes: []byte{1, 2}}},
			"event: agent.message\nid: 5-0\ndata: {\"agent\":\"p1\",\"node\":\"n1\",\"ts\":\"2026-11-25T03:00:00Z\",\"type\":\"Blob\",\"data_base64\":\"AQI=\"}\n\n"},
		{"message without data", Event{Type: Message, Agent: "p1", Node: "n1", Time: ts, MessageType: "Hi"},
			"event: agent.message\nid: 5-0\ndata: {\"agent\":\"p1\",\"node\":\"n1\",\"ts\":\"2026-11-25T03:00:00Z\",\"type\":\"Hi\",\"data\":null}\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(sseFrame(ID{MS: 5}, tc.e)); got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	l := NewLog(10, testMaxBytes)
	s, _ := l.Subscribe(Filter{}, "")
	defer s.Close()
	same := time.UnixMilli(1700000000123)
	appendNow(l, Event{Type: Connected, Time: same})
	appendNow(l, Event{Type: Connected, Time: same})
	appendNow(l, Event{Type: Connected, Time: same.Add(-time.Second)}) // clock went back
	appendNow(l, Event{Type: Connected, Time: same.Add(time.Millisecond)})
	buf, _, _ := s.Read(nil)
	var got []string
	for _, f := range frames(buf) {
		got = append(got, idOf(f))
	}
	want := []string{"1700000000123-0", "1700000000123-1", "1700000000123-2", "1700000000124-0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ids %v, want %v", got, want)
	}
	for _, bad := range []string{"", "12", "a-1", "1-b", "-1"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
}

func TestFilters(t *testing.T) {
	l := NewLog(100, testMaxBytes)
	all, _ := l.Subscribe(Filter{}, "")
	byType, _ := l.Subscribe(Filter{Types: []string{Connected, Disconnected}}, "")
	byAgent, _ := l.Subscribe(Filter{Agent: "a"}, "")
	byGroup, _ := l.Subscribe(Filter{Group: "red"}, "")
	for _, s := range []*Subscription{all, byType, byAgent, byGroup} {
		defer s.Close()
	}
	appendNow(l, Event{Type: Connected, Agent: "a"})
	appendNow(l, Event{Type: Message, Agent: "a", Groups: []string{"red", "blue"}})
	appendNow(l, Event{Type: Message, Agent: "b", Groups: []string{"blue"}})
	appendNow(l, Event{Type: Disconnected, Agent: "b", Groups: []string{"red"}})
	for _, tc := range []struct {
		name string
		s    *Subscription
		want int
	}{{"all", all, 4}, {"types", byType, 2}, {"agent", byAgent, 2}, {"group", byGroup, 2}} {
		buf, _, err := tc.s.Read(nil)
		if err != nil || len(frames(buf)) != tc.want {
			t.Errorf("%s: %d frames (%v), want %d", tc.name, len(frames(buf)), err, tc.want)
		}
	}
	if got := l.Subscribers(); got != 4 {
		t.Fatalf("Subscribers() = %d", got)
	}
}

func TestResume(t *testing.T) {
	l := NewLog(100, testMaxBytes)
	s, _ := l.Subscribe(Filter{}, "")
	appendN(l, 30, "a")
	buf, _, _ := s.Read(nil)
	s.Close()
	got := frames(buf)
	lastSeen := idOf(got[9])

	// Resume after the tenth: exactly the twenty that followed.
	r, fromOldest := l.Subscribe(Filter{}, lastSeen)
	defer r.Close()
	if fromOldest {
		t.Fatal("known id replayed from oldest")
	}
	replay, _, _ := r.Read(nil)
	if !bytes.Equal(replay, []byte(strings.Join(got[10:], "\n\n")+"\n\n")) {
		t.Fatalf("replay after %s:\n%s", lastSeen, replay)
	}
	// Resuming at the newest replays nothing.
	n, _ := l.Subscribe(Filter{}, idOf(got[29]))
	defer n.Close()
	if buf, _, _ := n.Read(nil); len(buf) != 0 {
		t.Fatalf("replay after newest: %s", buf)
	}
}

func TestResumeFromOldest(t *testing.T) {
	l := NewLog(10, testMaxBytes)
	appendN(l, 5, "a")
	early, _ := l.Subscribe(Filter{}, "")
	appendN(l, 1, "a")
	buf, _, _ := early.Read(nil)
	early.Close()
	oldID := idOf(frames(buf)[0])
	appendN(l, 20, "a") // oldID falls out of the window
	for _, lastID := range []string{oldID, "garbage", "99999999999999-0", "1-0"} {
		s, fromOldest := l.Subscribe(Filter{}, lastID)
		buf, _, err := s.Read(nil)
		s.Close()
		if !fromOldest || err != nil || len(frames(buf)) != 10 {
			t.Errorf("Last-Event-ID %q: fromOldest=%v, %d frames, %v; want the 10 kept", lastID, fromOldest, len(frames(buf)), err)
		}
	}
}

// TestResumeFromOldestWhileEventsArrive: a subscriber whose Last-Event-ID
// is older than the log, or unknown, replays from the oldest event kept
// when it first reads, even when events arrived since it subscribed and
// pushed out the oldest it would have had. Cutting it off then, as too
// slow, would send it back with the same id to the same fate for as long
// as events keep coming.
func TestResumeFromOldestWhileEventsArrive(t *testing.T) {
	l := NewLog(10, testMaxBytes)
	appendN(l, 10, "a")
	s, fromOldest := l.Subscribe(Filter{}, "unknown")
	defer s.Close()
	appendN(l, 3, "b") // the three oldest are dropped
	buf, _, err := s.Read(nil)
	if !fromOldest || err != nil {
		t.Fatalf("fromOldest=%v, first read: %v; want a replay from the oldest kept", fromOldest, err)
	}
	got := frames(buf)
	if len(got) != 10 || !strings.Contains(got[0], `"agent":"a"`) || !strings.Contains(got[9], `"agent":"b"`) {
		t.Fatalf("replayed %d events, from %q to %q; want the 10 kept", len(got), got[0], got[len(got)-1])
	}
}

func TestSlowSubscriberIsCutOff(t *testing.T) {
	l := NewLog(100, testMaxBytes)
	slow, _ := l.Subscribe(Filter{}, "")
	defer slow.Close()
	fast, _ := l.Subscribe(Filter{}, "")
	defer fast.Close()
	appendN(l, 40, "a")
	if buf, _, err := fast.Read(nil); err != nil || len(frames(buf)) != 40 {
		t.Fatal(err)
	}
	appendN(l, 40, "a")
	if _, _, err := slow.Read(nil); !errors.Is(err, ErrTooSlow) {
		t.Fatalf("80 behind with 100 kept: %v, want ErrTooSlow", err)
	}
	if buf, _, err := fast.Read(nil); err != nil || len(frames(buf)) != 40 {
		t.Fatalf("fast subscriber: %d frames, %v", len(frames(buf)), err)
	}
}

// TestConcurrentOrder has writers and readers race: every reader sees
// every event once, in id order.
func TestConcurrentOrder(t *testing.T) {
	const writers, perWriter = 4, 500
	l := NewLog(4*writers*perWriter, testMaxBytes) // nobody falls half of it behind
	var wg sync.WaitGroup
	results := make([][]string, 3)
	for i := range results {
		s, _ := l.Subscribe(Filter{}, "")
		wg.Go(func() {
			defer s.Close()
			var buf []byte
			for {
				var wake <-chan struct{}
				var err error
				buf, wake, err = s.Read(buf)
				if err != nil {
					t.Error(err)
					return
				}
				if len(frames(buf)) == writers*perWriter {
					break
				}
				select {
				case <-wake:
				case <-time.After(5 * time.Second):
					t.Error("no wake-up")
					return
				}
			}
			for _, f := range frames(buf) {
				results[i] = append(results[i], idOf(f))
			}
		})
	}
	for w := range writers {
		wg.Go(func() { appendN(l, perWriter, fmt.Sprint("w", w)) })
	}
	wg.Wait()
	for i, ids := range results {
		seen := map[string]bool{}
		var prev ID
		for j, s := range ids {
			id, err := ParseID(s)
			if err != nil || seen[s] || (j > 0 && !prev.Less(id)) {
				t.Fatalf("reader %d: id %q at %d out of order or repeated", i, s, j)
			}
			seen[s], prev = true, id
		}
	}
}

// TestResumeCatchUp: a subscriber replaying a long gap in several reads is
// not cut off by events that arrive meanwhile, as long as it gains ground.
func TestResumeCatchUp(t *testing.T) {
	l := NewLog(100, testMaxBytes)
	big := codec.Payload{JSON: []byte(`"` + strings.Repeat("x", 4096) + `"`)}
	for range 100 {
		appendNow(l, Event{Type: Message, Agent: "a", Data: big})
	}
	first, _ := l.Subscribe(Filter{}, "unknown") // replays from the oldest
	buf, _, _ := first.Read(nil)
	first.Close()
	tenth := idOf(frames(buf)[9])

	s, _ := l.Subscribe(Filter{}, tenth)
	defer s.Close()
	seen := 0
	for seen < 90+20 {
		buf, _, err := s.Read(nil)
		if err != nil {
			t.Fatalf("after %d events: %v", seen, err)
		}
		seen += len(frames(buf))
		if seen < 90+20 {
			appendNow(l, Event{Type: Message, Agent: "a", Data: big})
		}
	}
}

// FuzzParseID: whatever Last-Event-ID a client sends, parsing never
// panics, and an id it accepts prints back to one that parses the same.
func FuzzParseID(f *testing.F) {
	for _, seed := range []string{"1700000000123-0", "0-0", "18446744073709551615-18446744073709551615", "-", "1-", "a-b", "01-02", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		again, err := ParseID(id.String())
		if err != nil || again != id {
			t.Fatalf("ParseID(%q) = %v, whose text %q parses as %v, %v", s, id, id.String(), again, err)
		}
	})
}

// testMaxBytes bounds test logs far beyond what they hold.
const testMaxBytes = 64 << 20

// appendNow adds e with the id a stream would give it at e.Time.
func appendNow(l *Log, e Event) {
	l.mu.Lock()
	id := NextID(l.last, e.Time)
	l.mu.Unlock()
	l.Add(id, e)
}

// TestLogBoundedInBytes: big events are dropped by the byte bound long
// before the count bound, and a resume from an old id replays what is
// kept.
func TestLogBoundedInBytes(t *testing.T) {
	big := codec.Payload{JSON: []byte(`"` + strings.Repeat("x", 64<<10) + `"`)}
	perEvent := SizeOf(Event{Data: big})
	l := NewLog(1000, 10*perEvent)
	first := ""
	for i := range 50 {
		appendNow(l, Event{Type: Message, Agent: "a", Data: big})
		if i == 0 {
			first = l.last.String()
		}
	}
	l.mu.Lock()
	kept, bytes := l.next-l.first, l.bytes
	l.mu.Unlock()
	if kept != 10 || bytes > 10*perEvent {
		t.Fatalf("kept %d events of %d bytes, want 10 within %d bytes", kept, bytes, 10*perEvent)
	}
	sub, fromOldest := l.Subscribe(Filter{}, first)
	defer sub.Close()
	if !fromOldest {
		t.Fatal("an id dropped by the byte bound resumed as if kept")
	}
}

// TestResumeAheadOfTheLog: an id newer than every event kept, but not from
// the future, is one this node has yet to see (another node of the
// cluster gave it): the subscription starts after it, so the events up to
// it, when they come, are not sent a second time.
func TestResumeAheadOfTheLog(t *testing.T) {
	l := NewLog(100, testMaxBytes)
	now := uint64(time.Now().UnixMilli())
	add := func(ms uint64) { l.Add(ID{MS: ms}, Event{Type: Connected, Agent: "a"}) }
	add(now - 3)
	s, fromOldest := l.Subscribe(Filter{}, ID{MS: now - 1}.String())
	defer s.Close()
	if fromOldest {
		t.Fatal("an id just ahead of the log replayed from the oldest")
	}
	add(now - 2)
	add(now - 1) // the id the subscriber resumed after
	add(now)
	buf, _, err := s.Read(nil)
	if got := frames(buf); err != nil || len(got) != 1 || idOf(got[0]) != (ID{MS: now}).String() {
		t.Fatalf("read %q, %v; want only the event after the resume id", got, err)
	}
}
