package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// welcomeData is the data of Welcome.
type welcomeData struct {
	ID   string `json:"id"`
	Node string `json:"node"`
}

// wsClient is a WebSocket client of a test node.
type wsClient struct {
	t     testing.TB
	conn  *websocket.Conn
	codec string
	id    string // from Welcome
}

// dialWS connects a WebSocket client to n's /ws with query (such as
// "?id=u1") and subprotocols, and reads its Welcome. The connection is
// closed when the test ends.
func dialWS(t testing.TB, n *testNode, query string, subprotocols ...string) *wsClient {
	t.Helper()
	conn, resp, err := dialWSRaw(t, n, query, nil, subprotocols...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial /ws%s: %v (HTTP %d)", query, err, status)
	}
	c := &wsClient{t: t, conn: conn, codec: "json"}
	if p := conn.Subprotocol(); p != "" {
		c.codec = strings.TrimPrefix(p, "hotpot.")
	} else if q, err := url.ParseQuery(strings.TrimPrefix(query, "?")); err == nil && q.Get("codec") != "" {
		c.codec = q.Get("codec")
	}
	w := c.recv()
	if w.Type != "Welcome" {
		t.Fatalf("first message %+v, want Welcome", w)
	}
	var d welcomeData
	if err := json.Unmarshal(w.Data, &d); err != nil {
		t.Fatalf("Welcome data %q: %v", w.Data, err)
	}
	c.id = d.ID
	return c
}

// dialWSRaw opens a WebSocket to n's /ws without reading anything; a
// connection it returns is closed when the test ends.
func dialWSRaw(t testing.TB, n *testNode, query string, header http.Header, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(n.url, "http") + "/ws" + query
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: n.transport},
		HTTPHeader:   header,
		Subprotocols: subprotocols,
	})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(16 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return conn, resp, nil
}

// send writes m in the client's codec.
func (c *wsClient) send(m msg) {
	c.t.Helper()
	frame, err := encodeMsg(c.codec, m)
	if err != nil {
		c.t.Fatal(err)
	}
	typ := websocket.MessageText
	if c.codec != "json" {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, typ, frame); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv returns the next message other than a keepalive Ping.
func (c *wsClient) recv() msg {
	c.t.Helper()
	for {
		m, err := c.recvErr(5 * time.Second)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if m.Type != "Ping" {
			return m
		}
	}
}

func (c *wsClient) recvErr(timeout time.Duration) (msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, frame, err := c.conn.Read(ctx)
	if err != nil {
		return msg{}, err
	}
	return decodeMsg(c.codec, frame)
}

// roundTrip sends Ping and waits for Pong: everything the client sent
// before has been handled by the node.
func (c *wsClient) roundTrip() {
	c.t.Helper()
	c.send(msg{Type: "Ping"})
	if m := c.recv(); m.Type != "Pong" {
		c.t.Fatalf("got %+v, want Pong", m)
	}
}

// expectClose reads until the connection ends and returns its close
// status and the reason of the Kicked that came before ("" if none).
func (c *wsClient) expectClose() (websocket.StatusCode, string) {
	c.t.Helper()
	kicked := ""
	for {
		m, err := c.recvErr(5 * time.Second)
		if errors.Is(err, context.DeadlineExceeded) {
			c.t.Fatal("the connection was not closed")
		}
		if err != nil {
			return websocket.CloseStatus(err), kicked
		}
		if m.Type == "Kicked" {
			var d struct{ Reason string }
			json.Unmarshal(m.Data, &d)
			kicked = d.Reason
		}
	}
}

// answerCalls makes the client answer every call it receives with
// reply(call) until the connection ends; the client must not be read
// otherwise. The reader stops, and is waited for, when the test ends.
func (c *wsClient) answerCalls(reply func(call msg) msg) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			_, frame, err := c.conn.Read(context.Background())
			if err != nil {
				return
			}
			m, err := decodeMsg(c.codec, frame)
			if err != nil || m.ID == "" {
				continue
			}
			out, err := encodeMsg(c.codec, reply(m))
			if err != nil {
				c.t.Errorf("encoding a reply: %v", err)
				return
			}
			typ := websocket.MessageText
			if c.codec != "json" {
				typ = websocket.MessageBinary
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = c.conn.Write(ctx, typ, out)
			cancel()
			if err != nil {
				return
			}
		}
	})
	c.t.Cleanup(func() {
		c.conn.CloseNow()
		wg.Wait()
	})
}

// echoReply answers a call with its own data.
func echoReply(call msg) msg { return msg{Type: "Reply", ID: call.ID, Data: call.Data} }
