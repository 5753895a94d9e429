package node

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/hotpot-rt/hotpot/internal/pubsub"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNode is a Node of an in-process cluster, serving WebSocket agents.
type testNode struct {
	*Node
	ws string // ws://…/ws
}

// startNodes starts one node per id on one MemoryHub; they stop when the
// test ends.
func startNodes(t testing.TB, ids ...string) []*testNode {
	t.Helper()
	hub := pubsub.NewMemoryHub(1000, 64<<20)
	out := make([]*testNode, len(ids))
	for i, id := range ids {
		out[i] = startNode(t, hub, id)
	}
	for _, n := range out {
		n.beat() // every node knows every other
	}
	return out
}

// startNode starts node id on hub; it stops when the test ends.
func startNode(t testing.TB, hub *pubsub.MemoryHub, id string) *testNode {
	cfg := config.Default()
	cfg.NodeID = id
	cfg.DrainTimeout = 100 * time.Millisecond
	nd := New(cfg, Options{Broker: hub.Join(id)})
	nd.Start()
	hs := httptest.NewServer(http.HandlerFunc(nd.ServeWS))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nd.Shutdown(ctx)
		hs.Close()
	})
	return &testNode{Node: nd, ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
}

// TestRestartForgetsTheEarlierProcess: a node that starts under the id of
// one that died without a word takes that one's agents out of the
// directory.
func TestRestartForgetsTheEarlierProcess(t *testing.T) {
	hub := pubsub.NewMemoryHub(1000, 64<<20)
	dead := startNode(t, hub, "a")
	dial(t, dead, "orphan")
	probe := hub.Join("probe")
	if owner, _ := probe.Lookup(t.Context(), "orphan"); owner.Node != "a" {
		t.Fatalf("orphan's owner %+v, want a", owner)
	}
	startNode(t, hub, "a") // the same id, as a restarted process
	if owner, _ := probe.Lookup(t.Context(), "orphan"); !owner.IsZero() {
		t.Fatalf("orphan's owner %+v after a restarted, want none", owner)
	}
}

// client is a WebSocket agent that answers every call with its data and
// hands other frames to frames.
type client struct {
	conn   *websocket.Conn
	frames chan codec.Envelope
}

func dial(t testing.TB, n *testNode, id string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, n.ws+"?id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{conn: conn, frames: make(chan codec.Envelope, 16)}
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			e, err := codec.JSON.Decode(b)
			if err != nil {
				t.Error(err)
				return
			}
			if e.ID != "" {
				reply, _ := codec.JSON.Encode(codec.Envelope{Type: "Reply", ID: e.ID, Data: e.Data})
				conn.Write(context.Background(), websocket.MessageText, reply)
				continue
			}
			c.frames <- e
		}
	})
	t.Cleanup(func() { conn.CloseNow(); reader.Wait() })
	if e := c.next(t); e.Type != "Welcome" {
		t.Fatalf("got %+v, want Welcome", e)
	}
	return c
}

func (c *client) next(t testing.TB) codec.Envelope {
	t.Helper()
	select {
	case e := <-c.frames:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no frame within 5 s")
		return codec.Envelope{}
	}
}

// dialMute connects agent id to n, reads its Welcome and then nothing:
// it answers no call. It is closed when t ends.
func dialMute(t *testing.T, n *testNode, id string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(ctxFor(t), n.ws+"?id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if _, _, err := conn.Read(ctxFor(t)); err != nil { // Welcome
		t.Fatal(err)
	}
	return conn
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOperationsReachTheOwner(t *testing.T) {
	nodes := startNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	player := dial(t, a, "player")
	ctx := ctxFor(t)

	reply, err := b.Call(ctx, "player", "Ask", codec.Payload{JSON: []byte(`{"n":1}`)})
	if err != nil || string(reply.JSON) != `{"n":1}` {
		t.Fatalf("call through b: %s, %v", reply.JSON, err)
	}
	if err := b.Push(ctx, "player", "Notice", codec.Payload{JSON: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	if e := player.next(t); e.Type != "Notice" {
		t.Fatalf("got %+v, want Notice", e)
	}
	if err := b.JoinGroup(ctx, "player", "g"); err != nil {
		t.Fatal(err)
	}
	info, err := b.Agent(ctx, "player")
	if err != nil || info.Node != "a" || len(info.Groups) != 1 {
		t.Fatalf("agent through b: %+v, %v", info, err)
	}
	if d, err := b.PushGroup(ctx, "g", "Turn", codec.Payload{}); err != nil || d != (Delivery{Delivered: 1, Nodes: 2}) {
		t.Fatalf("group push through b: %+v, %v", d, err)
	}
	player.next(t)
	if err := b.LeaveGroup(ctx, "player", "g"); err != nil {
		t.Fatal(err)
	}
	if d, err := b.PushGroup(ctx, "g", "Turn", codec.Payload{}); err != nil || d.Delivered != 0 {
		t.Fatalf("group push after leaving: %+v, %v", d, err)
	}

	dial(t, b, "other")
	if d, err := a.Broadcast(ctx, "Tick", codec.Payload{}); err != nil || d != (Delivery{Delivered: 2, Nodes: 2}) {
		t.Fatalf("broadcast through a: %+v, %v", d, err)
	}
	items, more := b.List(ctx, ListQuery{Limit: 1})
	if len(items) != 1 || items[0].ID != "other" || !more {
		t.Fatalf("first page through b: %+v %v", items, more)
	}
	items, more = b.List(ctx, ListQuery{After: "other", Limit: 1})
	if len(items) != 1 || items[0].ID != "player" || more {
		t.Fatalf("second page through b: %+v %v", items, more)
	}

	if err := b.Kick(ctx, "player", "bye"); err != nil {
		t.Fatal(err)
	}
	for e := player.next(t); e.Type != "Kicked"; e = player.next(t) {
	}
	for _, err := range []error{
		b.Push(ctx, "nobody", "X", codec.Payload{}),
		b.Kick(ctx, "nobody", "x"),
	} {
		if !errors.Is(err, ErrAgentNotFound) {
			t.Fatalf("operation on an unknown agent: %v, want ErrAgentNotFound", err)
		}
	}
}

// TestStaleOwnerIsLookedUpAgain: a node whose cached owner no longer has
// the agent answers "not here", and the caller finds the new owner.
func TestStaleOwnerIsLookedUpAgain(t *testing.T) {
	nodes := startNodes(t, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := ctxFor(t)
	first := dial(t, a, "mover")
	if _, err := c.Call(ctx, "mover", "Ask", codec.Payload{}); err != nil {
		t.Fatal(err)
	}
	if owner, ok := c.owners.get("mover"); !ok || owner != "a" {
		t.Fatalf("c caches %q, %v; want a", owner, ok)
	}
	dial(t, b, "mover")
	for e := first.next(t); e.Type != "Kicked"; e = first.next(t) {
	}
	if _, err := c.Call(ctx, "mover", "Ask", codec.Payload{}); err != nil {
		t.Fatalf("call after the agent moved: %v", err)
	}
	if owner, _ := c.owners.get("mover"); owner != "b" {
		t.Fatalf("c caches %q, want b", owner)
	}
}

// TestCallToANodeThatDies: a call waiting on another node fails with
// ErrAgentGone as soon as that node is seen gone.
func TestCallToANodeThatDies(t *testing.T) {
	nodes := startNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	conn := dialMute(t, a, "silent")

	done := make(chan error, 1)
	go func() {
		_, err := b.Call(context.Background(), "silent", "Ask", codec.Payload{})
		done <- err
	}()
	if _, _, err := conn.Read(ctxFor(t)); err != nil { // the call reached the agent
		t.Fatal(err)
	}
	b.peers.update(nil, b.id) // as a heartbeat round that no longer sees a
	select {
	case err := <-done:
		if !errors.Is(err, ErrAgentGone) {
			t.Fatalf("call to a node seen gone: %v, want ErrAgentGone", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the call did not end when its node was seen gone")
	}
}

// TestShutdownLeavesTheCluster: a stopping node deregisters itself and
// its agents; the others then answer 404 for them.
func TestShutdownLeavesTheCluster(t *testing.T) {
	nodes := startNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	dial(t, a, "leaver")
	ctx := ctxFor(t)
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	live, err := b.Nodes(ctx)
	if err != nil || len(live) != 1 || live[0].ID != "b" {
		t.Fatalf("nodes after a left: %+v, %v", live, err)
	}
	if _, err := b.Call(ctx, "leaver", "Ask", codec.Payload{}); !errors.Is(err, ErrAgentNotFound) {
		t.Fatalf("call to a departed node's agent: %v, want ErrAgentNotFound", err)
	}
}

// TestEventsOfEveryNodeInOneOrder: each node's log holds every node's
// agent events, with the same ids.
func TestEventsOfEveryNodeInOneOrder(t *testing.T) {
	nodes := startNodes(t, "a", "b")
	c := dial(t, nodes[0], "talker")
	msg, _ := json.Marshal(map[string]string{"type": "Hello"})
	c.conn.Write(ctxFor(t), websocket.MessageText, msg)
	var want []byte
	for _, n := range nodes {
		sub, _ := n.Events().Subscribe(events.Filter{}, "0-0")
		var got []byte
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(string(got), "event: ") < 2 && time.Now().Before(deadline) {
			var wake <-chan struct{}
			got, wake, _ = sub.Read(got)
			select {
			case <-wake:
			case <-time.After(100 * time.Millisecond):
			}
		}
		sub.Close()
		if !strings.Contains(string(got), "agent.connected") || !strings.Contains(string(got), "Hello") {
			t.Fatalf("%s's log: %s", n.id, got)
		}
		if want == nil {
			want = got
		} else if string(got) != string(want) {
			t.Fatalf("logs differ:\n%s\n%s", want, got)
		}
	}
}

// TestOverloadRefusesAtOnce: with every fan-out slot taken, a broadcast,
// an asynchronous one and a group push are refused at once, nothing sent;
// another node's survey counts as not answered, and the answer is partial.
func TestOverloadRefusesAtOnce(t *testing.T) {
	nodes := startNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	onA, onB := dial(t, a, "on-a"), dial(t, b, "on-b")
	ctx := ctxFor(t)
	for a.fanOuts.TryAcquire() {
	}
	if _, err := a.Broadcast(ctx, "X", codec.Payload{}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("broadcast on a full node: %v, want ErrOverloaded", err)
	}
	if err := a.BroadcastAsync("X", codec.Payload{}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("async broadcast on a full node: %v, want ErrOverloaded", err)
	}
	if _, err := a.PushGroup(ctx, "g", "X", codec.Payload{}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("group push on a full node: %v, want ErrOverloaded", err)
	}
	d, err := b.Broadcast(ctx, "Y", codec.Payload{})
	if err != nil || d != (Delivery{Delivered: 1, Nodes: 2, Partial: true}) {
		t.Fatalf("broadcast through b with a full: %+v, %v; want b's agent only, partial", d, err)
	}
	if e := onB.next(t); e.Type != "Y" {
		t.Fatalf("b's agent got %+v, want Y", e)
	}
	for range cap(a.fanOuts) {
		a.fanOuts.Release()
	}
	if err := a.BroadcastAsync("Z", codec.Payload{}); err != nil {
		t.Fatal(err)
	}
	if e := onA.next(t); e.Type != "Z" {
		t.Fatalf("a's agent got %+v, want only Z (nothing refused was sent)", e)
	}
}

// BenchmarkRemoteAgent measures describing an agent of another node of
// an in-process cluster: the routing, the bus round trip and the answer.
func BenchmarkRemoteAgent(b *testing.B) {
	nodes := startNodes(b, "a", "b")
	dial(b, nodes[0], "player")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nodes[1].Agent(b.Context(), "player"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRemoteCallTimesOutAtTheCallersDeadline: a call to an agent on
// another node that never replies ends with ErrTimeout at the caller's
// deadline.
func TestRemoteCallTimesOutAtTheCallersDeadline(t *testing.T) {
	nodes := startNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	dialMute(t, a, "mute")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Call(ctx, "mute", "Ask", codec.Payload{})
	if d := time.Since(start); !errors.Is(err, ErrTimeout) || d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("call to a mute agent on another node: %v after %v, want ErrTimeout after about 300ms", err, d)
	}
}

// TestRemoteCallEndsWhenTheCallerGivesUp: a call to an agent on another
// node that never replies ends when its caller gives up, not at the
// call's own timeout.
func TestRemoteCallEndsWhenTheCallerGivesUp(t *testing.T) {
	nodes := startNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	dialMute(t, a, "mute")
	ctx, cancel := context.WithCancel(t.Context()) // no deadline: the call's timeout is 5 s
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := b.Call(ctx, "mute", "Ask", codec.Payload{})
	if d := time.Since(start); !errors.Is(err, context.Canceled) || d > 3*time.Second {
		t.Fatalf("call to a mute agent on another node: %v after %v, want context.Canceled after about 300ms", err, d)
	}
}
