package web_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// frame is one message of the client wire protocol.
type frame struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
	Code int             `json:"code,omitempty"`
	Msg  string          `json:"msg,omitempty"`
}

// wsAgent is a client connected from the test over a real WebSocket. It
// answers the node's Pings; calls go to its answer function, every other
// frame to frames.
type wsAgent struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan frame
	// calls gets every call it received, answered or not.
	calls chan frame
	// done is closed when its read loop ends.
	done chan struct{}
}

// dialAgent connects a client with id to node and waits for its Welcome.
// answer, if not nil, makes the reply to each call; without it calls go
// unanswered.
func dialAgent(t *testing.T, node *servertest.Process, id string, answer func(call frame) frame) *wsAgent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+node.HTTPAddr+"/ws?id="+id, nil)
	if err != nil {
		t.Fatalf("dialing %s: %v", id, err)
	}
	a := &wsAgent{t: t, conn: conn, frames: make(chan frame, 1000), calls: make(chan frame, 100), done: make(chan struct{})}
	t.Cleanup(func() {
		conn.CloseNow()
		<-a.done
	})
	var welcome frame
	a.readInto(ctx, &welcome)
	if welcome.Type != "Welcome" {
		t.Fatalf("%s: first frame %+v, want a Welcome", id, welcome)
	}
	go a.loop(answer)
	return a
}

// readInto reads one frame.
func (a *wsAgent) readInto(ctx context.Context, f *frame) {
	a.t.Helper()
	_, b, err := a.conn.Read(ctx)
	if err != nil {
		a.t.Fatalf("reading: %v", err)
	}
	if err := json.Unmarshal(b, f); err != nil {
		a.t.Fatalf("frame %s: %v", b, err)
	}
}

// loop reads frames until the connection ends.
func (a *wsAgent) loop(answer func(call frame) frame) {
	defer close(a.done)
	defer close(a.frames)
	for {
		_, b, err := a.conn.Read(context.Background())
		if err != nil {
			return
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		switch {
		case f.Type == "Ping":
			a.write(frame{Type: "Pong"})
		case f.ID != "":
			if !a.keep(a.calls, f) {
				return
			}
			if answer != nil {
				reply := answer(f)
				reply.Type, reply.ID = "Reply", f.ID
				a.write(reply)
			}
		default:
			if !a.keep(a.frames, f) {
				return
			}
		}
	}
}

// keep queues f for the test, or fails it when the test has left more
// unread than ch holds: the loop must not block, or Cleanup would wait
// for it forever.
func (a *wsAgent) keep(ch chan frame, f frame) bool {
	select {
	case ch <- f:
		return true
	default:
		a.t.Errorf("a test agent was left more than %d frames unread", cap(ch))
		return false
	}
}

// write sends one frame; a failure ends the connection, which the test notices.
func (a *wsAgent) write(f frame) {
	b, _ := json.Marshal(f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.conn.Write(ctx, websocket.MessageText, b)
}

// send sends a message of the client's own: an agent.message on /events.
func (a *wsAgent) send(typ, data string) {
	a.write(frame{Type: typ, Data: json.RawMessage(data)})
}

// next returns the next frame other than a Ping or a call.
func (a *wsAgent) next() frame {
	a.t.Helper()
	select {
	case f, ok := <-a.frames:
		if !ok {
			a.t.Fatal("the connection ended")
		}
		return f
	case <-time.After(browsertest.Timeout):
		a.t.Fatal("no frame came")
	}
	return frame{}
}

// close closes the connection as a client leaving does.
func (a *wsAgent) close() {
	a.conn.Close(websocket.StatusNormalClosure, "bye")
	<-a.done
}
