//go:build linux

package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// herdRun opens n agents to url with handle, as idle and broadcast do,
// and returns their state once every dial has settled, with the function
// that ends the run and waits until every agent is closed.
func herdRun(t *testing.T, url string, n int, handle agentHandler) (*idleState, *protocol, func()) {
	t.Helper()
	p := testProtocol(url)
	st := &idleState{n: n, ready: make(chan struct{}), emptied: make(chan struct{}, 1)}
	stop, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	if err := openAll(stop, p, n, 10000, st, slog.New(slog.DiscardHandler), &wg, handle); err != nil {
		t.Fatal(err)
	}
	<-st.ready
	if st.dialErrs.count() > 0 {
		t.Fatalf("dial failed: %v", st.dialErrs.firstErr())
	}
	return st, p, func() {
		cancel()
		wg.Wait()
	}
}

// TestHerd: agents read by a herd answer hotpot Pings with Pongs and
// WebSocket pings with pongs, get messages however fragmented, stop
// reading when their handler says so, and are closed with a close
// handshake when the run ends.
func TestHerd(t *testing.T) {
	type event struct {
		agent int
		typ   string
	}
	var mu sync.Mutex
	var got []event
	closes := make(chan error, 2)
	url := acceptingServer(t, func(ctx context.Context, c *websocket.Conn) {
		frames := make(chan string, 10)
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					closes <- err
					return
				}
				frames <- string(b)
			}
		}()
		c.Write(ctx, websocket.MessageText, []byte(testWelcome))
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"Ping"}`))
		if f := <-frames; f != `{"type":"Pong"}` {
			t.Errorf("answer to Ping: %s", f)
		}
		if err := c.Ping(ctx); err != nil {
			t.Errorf("WebSocket ping: %v", err)
		}
		w, _ := c.Writer(ctx, websocket.MessageText)
		w.Write([]byte(`{"type":"Frag`))
		w.Write([]byte(`mented"}`))
		w.Close()
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"Stamped","data":{"t":1,"seq":2}}`))
		<-readDone // until the agent is closed
	})
	st, p, end := herdRun(t, url, 2, func(i int, env codec.Envelope) bool {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, event{i, env.Type})
		return i != 0 // agent 0 stalls on its first message
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(50 * time.Millisecond) // time for a message agent 0 must not get
	end()

	slices.SortStableFunc(got, func(a, b event) int { return a.agent - b.agent })
	if want := []event{{0, "Fragmented"}, {1, "Fragmented"}, {1, "Stamped"}}; !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	if n := p.pongs.Load(); n != 2 {
		t.Errorf("%d Pongs sent, want 2", n)
	}
	for range 2 {
		if err := <-closes; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("the node saw the agent end with %v, want a normal closure", err)
		}
	}
	if st.open.Load() != 0 || st.drops.count() != 0 {
		t.Errorf("after the run: %d open, unexpected closes %s", st.open.Load(), &st.drops)
	}
}

// TestHerdNodeCloses: an agent the node closes is answered in kind and
// counted as closed unexpectedly, with the node's status and reason.
func TestHerdNodeCloses(t *testing.T) {
	closed := make(chan error, 1)
	url := acceptingServer(t, func(ctx context.Context, c *websocket.Conn) {
		c.Write(ctx, websocket.MessageText, []byte(testWelcome))
		// Close waits for the agent's close frame, or 5 s.
		start := time.Now()
		err := c.Close(websocket.StatusPolicyViolation, "go away")
		if err == nil && time.Since(start) > 4*time.Second {
			err = errors.New("no close frame came back")
		}
		closed <- err
	})
	st, _, end := herdRun(t, url, 1, nil)
	defer end()
	if err := <-closed; err != nil {
		t.Errorf("the node's close handshake: %v", err)
	}
	<-st.emptied
	if err := st.drops.firstErr(); websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !errors.As(err, new(websocket.CloseError)) || err.(websocket.CloseError).Reason != "go away" {
		t.Errorf("unexpected closes %s, want the node's status and reason", &st.drops)
	}
}

// TestHerdSilentNode: an agent whose node stays silent past its
// keepalive is closed, and says why.
func TestHerdSilentNode(t *testing.T) {
	url := acceptingServer(t, func(ctx context.Context, c *websocket.Conn) {
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"Welcome","data":{"keepalive":{"interval_ms":20,"limit_ms":30}}}`))
		c.Read(ctx) // until the agent is closed
	})
	st, _, end := herdRun(t, url, 1, nil)
	defer end()
	select {
	case <-st.emptied:
	case <-time.After(5 * time.Second):
		t.Fatal("a silent node's agent is still open after 5 s")
	}
	if err := st.drops.firstErr(); !errors.Is(err, errSilent) {
		t.Errorf("unexpected closes %s, want %v", &st.drops, errSilent)
	}
}
