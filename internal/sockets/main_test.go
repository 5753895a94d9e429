package sockets

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/config"
	"github.com/hotpot-rt/hotpot/internal/events"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNode is a sockets.Server listening on loopback, with the events it
// published.
type testNode struct {
	srv     *Server
	httpURL string // http://127.0.0.1:port
	tcpAddr string
	events  *eventLog
	logs    *logRecorder
}

// startNode starts a node whose config is the default changed by tweak.
// Everything stops when the test ends.
func startNode(t testing.TB, tweak func(*config.Config)) *testNode {
	t.Helper()
	cfg := config.Default()
	cfg.NodeID = "test-node"
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	events := &eventLog{changed: make(chan struct{})}
	logs := &logRecorder{}
	srv := New(cfg, Options{Sink: events.add, Log: slog.New(slog.NewJSONHandler(logs, nil))})

	mux := http.NewServeMux()
	mux.HandleFunc("/ws", srv.ServeWS)
	mux.HandleFunc("/", srv.ServeWS)
	hs := httptest.NewServer(mux)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpDone := make(chan error, 1)
	go func() { tcpDone <- srv.ServeTCP(ln) }()

	t.Cleanup(func() {
		ln.Close()
		if err := <-tcpDone; err != nil {
			t.Errorf("ServeTCP: %v", err)
		}
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &testNode{srv: srv, httpURL: hs.URL, tcpAddr: ln.Addr().String(), events: events, logs: logs}
}

// wsURL returns the WebSocket URL of path (with query) on n.
func (n *testNode) wsURL(pathAndQuery string) string {
	return "ws" + strings.TrimPrefix(n.httpURL, "http") + pathAndQuery
}

// eventLog records published events.
type eventLog struct {
	mu   sync.Mutex
	list []events.Event
	// changed is closed, and replaced, when an event is added: every
	// waiter wakes, however many wait at once.
	changed chan struct{}
}

func (l *eventLog) add(e events.Event) {
	l.mu.Lock()
	l.list = append(l.list, e)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// waitFor waits until an event matches, and returns it.
func (l *eventLog) waitFor(t testing.TB, match func(events.Event) bool) events.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		l.mu.Lock()
		for _, e := range l.list {
			if match(e) {
				l.mu.Unlock()
				return e
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no matching event; have %+v", l.snapshot())
		}
	}
}

func (l *eventLog) snapshot() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Event(nil), l.list...)
}

// logRecorder keeps what a node logs, as JSON lines.
type logRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// logRecord is one decoded log line.
type logRecord map[string]any

func (r *logRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

// waitFor waits until a logged record matches, and returns it.
func (r *logRecorder) waitFor(t testing.TB, match func(logRecord) bool) logRecord {
	t.Helper()
	var found logRecord
	until(t, "a matching log record", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for line := range bytes.Lines(r.buf.Bytes()) {
			var rec logRecord
			if json.Unmarshal(line, &rec) == nil && match(rec) {
				found = rec
				return true
			}
		}
		return false
	})
	return found
}

// wsClient is a test client on WebSocket.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	c    codec.Codec
	id   string // from Welcome
}

// dialWS connects to n at pathAndQuery with the given subprotocols and
// reads Welcome.
func dialWS(t testing.TB, n *testNode, pathAndQuery string, subprotocols ...string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, n.wsURL(pathAndQuery), &websocket.DialOptions{Subprotocols: subprotocols})
	if err != nil {
		t.Fatalf("dial %s: %v", pathAndQuery, err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	c := codec.JSON
	if p := conn.Subprotocol(); p != "" {
		c, _ = codec.Lookup(strings.TrimPrefix(p, "hotpot."))
	} else if i := strings.Index(pathAndQuery, "codec="); i >= 0 {
		c, _ = codec.Lookup(strings.SplitN(pathAndQuery[i+len("codec="):], "&", 2)[0])
	}
	cl := &wsClient{t: t, conn: conn, c: c}
	w := cl.read()
	if w.Type != "Welcome" {
		t.Fatalf("first message %+v, want Welcome", w)
	}
	var welcome struct{ ID string }
	cl.decodeData(w, &welcome)
	cl.id = welcome.ID
	return cl
}

func (cl *wsClient) writeRaw(typ websocket.MessageType, frame []byte) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.conn.Write(ctx, typ, frame); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

func (cl *wsClient) write(e codec.Envelope) {
	cl.t.Helper()
	frame, err := cl.c.Encode(e)
	if err != nil {
		cl.t.Fatal(err)
	}
	typ := websocket.MessageText
	if cl.c.Binary() {
		typ = websocket.MessageBinary
	}
	cl.writeRaw(typ, frame)
}

func (cl *wsClient) readRaw() []byte {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, frame, err := cl.conn.Read(ctx)
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	return frame
}

func (cl *wsClient) read() codec.Envelope {
	cl.t.Helper()
	e, err := cl.c.Decode(cl.readRaw())
	if err != nil {
		cl.t.Fatal(err)
	}
	return e
}

// decodeData decodes an envelope's data, in whatever codec, as JSON into v.
func (cl *wsClient) decodeData(e codec.Envelope, v any) {
	cl.t.Helper()
	p, err := cl.c.Payload(e.Data)
	if err != nil {
		cl.t.Fatal(err)
	}
	raw := p.Raw()
	if err := json.Unmarshal(raw, v); err != nil {
		cl.t.Fatalf("data %q: %v", raw, err)
	}
}

// expectClose reads until the connection closes and returns the close
// status and the reason of the Kicked that came before it ("" if none).
func (cl *wsClient) expectClose() (websocket.StatusCode, string) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kicked := ""
	for {
		_, frame, err := cl.conn.Read(ctx)
		if err != nil {
			return websocket.CloseStatus(err), kicked
		}
		if e, err := cl.c.Decode(frame); err == nil && e.Type == "Kicked" {
			var d struct{ Reason string }
			cl.decodeData(e, &d)
			kicked = d.Reason
		}
	}
}

// encoded is a broadcast's or group push's event, encoded for every codec
// that can carry it (those that cannot are skipped on delivery).
func encoded(n *testNode, typ string, data codec.Payload) FanOut {
	f, _ := n.srv.EncodeFanOut(typ, data)
	return f
}
