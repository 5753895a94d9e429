package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	browsertest.Close()
	servertest.Cleanup()
	if code == 0 {
		// The backend's goroutines end with run; the shared browser's
		// driver keeps a few of its own until the process exits.
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/chromedp/chromedp.(*Browser).run")); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// waitTimeout bounds every wait of these tests.
const waitTimeout = 20 * time.Second

// startBackend runs the backend on node, in this process, until the test
// ends, and waits until it follows the node's events.
func startBackend(t *testing.T, node *servertest.Process, hz int) {
	t.Helper()
	startBackendWith(t, config{URL: node.URL(), Hz: hz})
	waitFollowing(t, node, 1)
}

// startBackendWith runs the backend with cfg, in this process, until the
// test ends.
func startBackendWith(t *testing.T, cfg config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	go func() { done <- run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// waitFollowing waits until node has n event streams open.
func waitFollowing(t *testing.T, node *servertest.Process, n int) {
	t.Helper()
	want := fmt.Sprintf("hotpot_sse_subscribers %d", n)
	eventually(t, "the backend to follow the node's events", func() bool {
		resp, err := http.Get(node.URL() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == want {
				return true
			}
		}
		return false
	})
}

// testWriter writes the backend's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// eventually polls cond until it holds, failing the test if it does not
// within waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", waitTimeout, what)
		}
	}
}

// message is one message from the node.
type message struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// player is a game client on a raw WebSocket, as a page would be.
type player struct {
	t    *testing.T
	id   string
	ws   *websocket.Conn
	msgs chan message // every message but Pings, in order
	// members is who is in the room, as the frames read so far say.
	members map[string]bool
	// history is the frames of every History read.
	history []frame
}

// dial connects a player with id to node; it is closed when the test ends.
func dial(t *testing.T, node *servertest.Process, id string) *player {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+node.HTTPAddr+"/ws?id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	p := &player{t: t, id: id, ws: ws, msgs: make(chan message, 1024)}
	go p.read()
	t.Cleanup(func() { ws.CloseNow() })
	if m := p.next("Welcome"); !strings.Contains(string(m.Data), `"id":"`+id+`"`) {
		t.Fatalf("Welcome %s", m.Data)
	}
	return p
}

// read collects messages until the connection ends, and answers Pings.
func (p *player) read() {
	defer close(p.msgs)
	for {
		_, b, err := p.ws.Read(context.Background())
		if err != nil {
			return
		}
		var m message
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if m.Type == "Ping" {
			p.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"Pong"}`))
			continue
		}
		select {
		case p.msgs <- m:
		default:
			p.t.Errorf("%s: more than %d messages unread", p.id, cap(p.msgs))
			return
		}
	}
}

// send sends one message of typ with data, given as JSON.
func (p *player) send(typ, data string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"`+typ+`","data":`+data+`}`)); err != nil {
		p.t.Fatal(err)
	}
}

// next returns the next message, failing the test if it is not of typ
// (any type, if typ is "").
func (p *player) next(typ string) message {
	p.t.Helper()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			p.t.Fatalf("%s: connection closed, waiting for %s", p.id, typ)
		}
		if typ != "" && m.Type != typ {
			p.t.Fatalf("%s: got %s %s, want %s", p.id, m.Type, m.Data, typ)
		}
		return m
	case <-time.After(waitTimeout):
		p.t.Fatalf("%s: no %s within %v", p.id, typ, waitTimeout)
	}
	return message{}
}

// joined is the data of Joined.
type joined struct {
	Room   string `json:"room"`
	Player string `json:"player"`
	Hz     int    `json:"hz"`
	Frame  int64  `json:"frame"`
}

// join sends Join for room and returns the Joined that answers it,
// skipping the frames of the room the player was in.
func (p *player) join(room string) joined {
	p.t.Helper()
	p.send("Join", `{"room":"`+room+`"}`)
	m := p.next("")
	for m.Type == "Frame" || m.Type == "History" {
		m = p.next("")
	}
	if m.Type != "Joined" {
		p.t.Fatalf("%s: got %s %s, want Joined", p.id, m.Type, m.Data)
	}
	var j joined
	if err := json.Unmarshal(m.Data, &j); err != nil {
		p.t.Fatal(err)
	}
	p.members = make(map[string]bool)
	p.history = nil
	if j.Room != room || j.Player != p.id {
		p.t.Fatalf("%s: joined %+v, want room %s", p.id, j, room)
	}
	return j
}

// frame reads the next Frame; History before it is read as it comes.
func (p *player) frame() frame {
	p.t.Helper()
	for {
		m := p.next("")
		switch m.Type {
		case "History":
			var h struct{ Frames []frame }
			if err := json.Unmarshal(m.Data, &h); err != nil {
				p.t.Fatal(err)
			}
			for _, f := range h.Frames {
				p.history = append(p.history, f)
				p.apply(f)
			}
		case "Frame":
			var f frame
			if err := json.Unmarshal(m.Data, &f); err != nil {
				p.t.Fatal(err)
			}
			p.apply(f)
			return f
		default:
			p.t.Fatalf("%s: got %s %s, want a Frame", p.id, m.Type, m.Data)
		}
	}
}

// apply updates p.members with the joins and leaves of f.
func (p *player) apply(f frame) {
	for _, e := range f.Inputs {
		switch e.Event {
		case "join":
			p.members[e.Player] = true
		case "leave":
			delete(p.members, e.Player)
		}
	}
}

// frameWith reads Frames until one has an entry that match accepts, and
// returns it; every frame must follow the one before it.
func (p *player) frameWith(what string, match func(entry) bool) frame {
	p.t.Helper()
	var last int64
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		f := p.frame()
		if last != 0 && f.Frame != last+1 {
			p.t.Fatalf("%s: frame %d after frame %d", p.id, f.Frame, last)
		}
		last = f.Frame
		for _, e := range f.Inputs {
			if match(e) {
				return f
			}
		}
	}
	p.t.Fatalf("%s: no frame with %s within %v", p.id, what, waitTimeout)
	return frame{}
}

// is returns a matcher of the entry of player with event, or input when
// event is "".
func is(player, event, input string) func(entry) bool {
	return func(e entry) bool {
		return e.Player == player && e.Event == event && string(e.Input) == input
	}
}
