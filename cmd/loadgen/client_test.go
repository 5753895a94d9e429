package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// parseURLs parses args with the flags of dialFlags and returns the URLs
// they give.
func parseURLs(args ...string) ([]string, error) {
	var d dialFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return d.urls, nil
}

func TestURLFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // nil: an error is wanted
	}{
		{"default", nil, []string{"ws://127.0.0.1:8848/ws"}},
		{"one", []string{"-url", "ws://h:1/ws"}, []string{"ws://h:1/ws"}},
		{"two, in order", []string{"-url", "ws://a:1/ws,wss://b:2/ws?codec=json"}, []string{"ws://a:1/ws", "wss://b:2/ws?codec=json"}},
		{"spaces around commas", []string{"-url", " ws://a:1/ws , ws://b:2/ws "}, []string{"ws://a:1/ws", "ws://b:2/ws"}},
		{"the same twice", []string{"-url", "ws://a:1/ws,ws://a:1/ws"}, []string{"ws://a:1/ws", "ws://a:1/ws"}},
		{"the last -url wins", []string{"-url", "ws://a:1/ws", "-url", "ws://b:2/ws"}, []string{"ws://b:2/ws"}},
		{"empty", []string{"-url", ""}, nil},
		{"trailing comma", []string{"-url", "ws://a:1/ws,"}, nil},
		{"empty between commas", []string{"-url", "ws://a:1/ws,,ws://b:2/ws"}, nil},
		{"http scheme", []string{"-url", "http://a:1/ws"}, nil},
		{"no scheme", []string{"-url", "a:1/ws"}, nil},
		{"no host", []string{"-url", "ws:///ws"}, nil},
		{"one bad of two", []string{"-url", "ws://a:1/ws,ws://b:2/%zz"}, nil},
	}
	for _, tt := range tests {
		got, err := parseURLs(tt.args...)
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("%s: %q parsed as %q, want an error", tt.name, tt.args, got)
		case tt.want != nil && err != nil:
			t.Errorf("%s: %q: %v", tt.name, tt.args, err)
		case !slices.Equal(got, tt.want):
			t.Errorf("%s: %q parsed as %q, want %q", tt.name, tt.args, got, tt.want)
		}
	}
}

// TestBadURLIsUsage checks that a bad -url ends every subcommand that
// dials before it starts, with the usage status.
func TestBadURLIsUsage(t *testing.T) {
	for _, cmd := range []string{"idle", "echo", "call", "push", "broadcast"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{cmd, "-url", "ws://a:1/ws,http://b:2/ws"}, &stdout, &stderr); code != 2 {
			t.Errorf("%s: exit status %d, want 2; stderr:\n%s", cmd, code, &stderr)
		}
		if !strings.Contains(stderr.String(), `"http://b:2/ws": want a ws:// or wss:// URL`) {
			t.Errorf("%s: stderr does not name the bad URL:\n%s", cmd, &stderr)
		}
	}
}

func TestProtocolURLRoundRobin(t *testing.T) {
	p := &protocol{urls: []string{"ws://a", "ws://b", "ws://c"}}
	var got []string
	for i := range 7 {
		got = append(got, p.url(i))
	}
	want := []string{"ws://a", "ws://b", "ws://c", "ws://a", "ws://b", "ws://c", "ws://a"}
	if !slices.Equal(got, want) {
		t.Errorf("agents 0..6 dial %q, want %q", got, want)
	}
}

// fakeNode is a WebSocket endpoint that greets every connection with a
// Welcome, as a node does, records the id each one asks for, and holds it
// until the client closes it.
type fakeNode struct {
	url string // ws://127.0.0.1:port/ws
	mu  sync.Mutex
	ids []string // guarded by mu; "" for a connection with no id
}

// startFakeNode starts a fake node that stops when the test ends, after
// every connection to it has been closed.
func startFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	f := &fakeNode{}
	welcome := []byte(`{"type":"Welcome","data":{"id":"x","node":"fake","keepalive":{"interval_ms":5000,"limit_ms":12000}}}`)
	var conns sync.WaitGroup
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		defer conns.Done()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"hotpot.json"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		f.mu.Lock()
		f.ids = append(f.ids, r.URL.Query().Get("id"))
		f.mu.Unlock()
		if c.Write(r.Context(), websocket.MessageText, welcome) != nil {
			return
		}
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		hs.Close()
		conns.Wait()
	})
	f.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	return f
}

// connected returns the ids of the connections so far, in order.
func (f *fakeNode) connected() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids)
}

// twoNodes starts two fake nodes and returns them with the protocol of
// -url listing both.
func twoNodes(t *testing.T) (a, b *fakeNode, p *protocol) {
	t.Helper()
	a, b = startFakeNode(t), startFakeNode(t)
	var d dialFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	d.register(fs)
	if err := fs.Parse([]string{"-url", a.url + "," + b.url}); err != nil {
		t.Fatal(err)
	}
	p, err := d.protocol()
	if err != nil {
		t.Fatal(err)
	}
	return a, b, p
}

// TestDialNamedSpreadsRoundRobin: the agents of call and push alternate
// between the URLs, in id order, so that a request names an agent on a
// known node.
func TestDialNamedSpreadsRoundRobin(t *testing.T) {
	a, b, p := twoNodes(t)
	ids, agents, err := dialNamed(t.Context(), p, "t", 5)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(agents)
	if want := []string{"t-0", "t-1", "t-2", "t-3", "t-4"}; !slices.Equal(ids, want) {
		t.Errorf("ids %q, want %q", ids, want)
	}
	if got, want := a.connected(), []string{"t-0", "t-2", "t-4"}; !slices.Equal(got, want) {
		t.Errorf("first URL got %q, want %q", got, want)
	}
	if got, want := b.connected(), []string{"t-1", "t-3"}; !slices.Equal(got, want) {
		t.Errorf("second URL got %q, want %q", got, want)
	}
}

// TestConcurrentDialsSpreadEvenly: echo's dialAll and the agents of idle
// and broadcast (openAll) split the agents evenly too.
func TestConcurrentDialsSpreadEvenly(t *testing.T) {
	t.Run("dialAll", func(t *testing.T) {
		a, b, p := twoNodes(t)
		agents, err := dialAll(t.Context(), p, 9)
		if err != nil {
			t.Fatal(err)
		}
		closeAll(agents)
		if na, nb := len(a.connected()), len(b.connected()); na != 5 || nb != 4 {
			t.Errorf("9 agents split %d + %d, want 5 + 4", na, nb)
		}
	})
	t.Run("openAll", func(t *testing.T) {
		a, b, p := twoNodes(t)
		st := &idleState{n: 10, ready: make(chan struct{}), emptied: make(chan struct{}, 1)}
		stop, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		openAll(stop, p, 10, 10000, st, slog.New(slog.DiscardHandler), &wg, nil)
		<-st.ready
		cancel()
		wg.Wait()
		if n := st.dialErrs.count(); n > 0 {
			t.Fatalf("%d dials failed: %v", n, st.dialErrs.firstErr())
		}
		if na, nb := len(a.connected()), len(b.connected()); na != 5 || nb != 5 {
			t.Errorf("10 agents split %d + %d, want 5 + 5", na, nb)
		}
	})
}
