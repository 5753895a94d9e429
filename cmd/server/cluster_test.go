package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/redistest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// startCluster starts one node process per id, joined through redisURL,
// and waits until each of them is ready and lists all of them in /nodes
// (a node's heartbeat tells the others of it a moment after it starts).
func startCluster(t *testing.T, redisURL string, ids ...string) map[string]*servertest.Process {
	t.Helper()
	flags := make(map[string][]string, len(ids))
	for _, id := range ids {
		flags[id] = nil
	}
	return startClusterWith(t, redisURL, flags)
}

// startClusterWith is startCluster with flags of each node's own: it
// starts a node for each id in flags, with the flags it maps to.
func startClusterWith(t *testing.T, redisURL string, flags map[string][]string) map[string]*servertest.Process {
	t.Helper()
	nodes := make(map[string]*servertest.Process, len(flags))
	for id, args := range flags {
		nodes[id] = servertest.Start(t, append([]string{"--node-id", id, "--redis", redisURL}, args...)...)
	}
	for _, p := range nodes {
		eventually(t, 10*time.Second, "every node is ready and lists the whole cluster", func() bool {
			ready, err := api(t, p).ReadyzWithResponse(t.Context())
			if err != nil || ready.StatusCode() != http.StatusOK {
				return false
			}
			res, err := api(t, p).ListNodesWithResponse(t.Context())
			return err == nil && res.JSON200 != nil && len(res.JSON200.Items) == len(flags)
		})
	}
	return nodes
}

// api returns the generated REST client of the node.
func api(t testing.TB, p *servertest.Process) *client.ClientWithResponses {
	t.Helper()
	c, err := client.NewClientWithResponses("http://" + p.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls cond until it holds, failing t after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// frame is a message as a JSON client sees it.
type frame struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
	Code int32           `json:"code,omitempty"`
	Msg  string          `json:"msg,omitempty"`
}

// agent is a WebSocket client of one node. Its reader answers every call
// with its own data (except calls of type "Hang") and hands every other
// frame to frames.
type agent struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan frame
	// closed is closed when the connection ends.
	closed chan struct{}
}

// dialAgent connects id to p and waits for its Welcome.
func dialAgent(t testing.TB, p *servertest.Process, id string) *agent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+p.HTTPAddr+"/ws?id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, conn: conn, frames: make(chan frame, 64), closed: make(chan struct{})}
	var reader sync.WaitGroup
	reader.Go(a.read)
	t.Cleanup(func() { conn.CloseNow(); reader.Wait() })
	if f := a.next(); f.Type != "Welcome" {
		t.Fatalf("%s: first frame %+v, want Welcome", id, f)
	}
	return a
}

func (a *agent) read() {
	defer close(a.closed)
	for {
		_, b, err := a.conn.Read(context.Background())
		if err != nil {
			return
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			a.t.Errorf("frame %s: %v", b, err)
			return
		}
		if f.ID != "" && f.Type != "Hang" {
			reply, _ := json.Marshal(frame{Type: "Reply", ID: f.ID, Data: f.Data})
			a.conn.Write(context.Background(), websocket.MessageText, reply)
			continue
		}
		a.frames <- f
	}
}

// next returns the next frame that is not a call, failing t after 10 s.
func (a *agent) next() frame {
	a.t.Helper()
	select {
	case f := <-a.frames:
		return f
	case <-time.After(10 * time.Second):
		a.t.Fatal("no frame within 10 s")
		return frame{}
	}
}

// send writes one message of the client's.
func (a *agent) send(f frame) {
	b, _ := json.Marshal(f)
	if err := a.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		a.t.Fatal(err)
	}
}

// call calls id through p and returns the status and body.
func call(t testing.TB, p *servertest.Process, id string, timeoutMS int) (int, []byte) {
	t.Helper()
	res, err := api(t, p).CallAgentWithResponse(t.Context(), id, client.CallRequest{
		Type: "Ask", Data: json.RawMessage(`{"q":1}`), TimeoutMs: &timeoutMS,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode(), res.Body
}

// TestClusterRoutesToOwner: a web service reaches an agent through any
// node — call, push, groups, kick, describe, list.
func TestClusterRoutesToOwner(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(), "a", "b", "c")
	a, b, c := nodes["a"], nodes["b"], nodes["c"]

	player := dialAgent(t, a, "player-1")
	if status, body := call(t, c, "player-1", 5000); status != http.StatusOK || !bytes.Contains(body, []byte(`{"q":1}`)) {
		t.Fatalf("call through c right after Welcome: %d %s", status, body)
	}

	push, err := api(t, b).PushAgentEventWithResponse(t.Context(), "player-1", client.EventRequest{Type: "Notice", Data: json.RawMessage(`"hi"`)})
	if err != nil || push.StatusCode() != http.StatusAccepted {
		t.Fatalf("push through b: %v %v", err, push.Status())
	}
	if f := player.next(); f.Type != "Notice" || string(f.Data) != `"hi"` {
		t.Fatalf("got %+v, want the Notice", f)
	}

	join, err := api(t, c).JoinGroupWithResponse(t.Context(), "player-1", "room-7")
	if err != nil || join.StatusCode() != http.StatusNoContent {
		t.Fatalf("join through c: %v %v", err, join.Status())
	}
	got, err := api(t, b).GetAgentWithResponse(t.Context(), "player-1")
	if err != nil || got.JSON200 == nil || got.JSON200.Node != "a" || !slices.Equal(got.JSON200.Groups, []string{"room-7"}) {
		t.Fatalf("agent through b: %v %s", err, got.Body)
	}
	group, err := api(t, b).PushGroupEventWithResponse(t.Context(), "room-7", client.EventRequest{Type: "Turn"})
	if err != nil || group.JSON200 == nil || group.JSON200.Delivered != 1 {
		t.Fatalf("group push through b: %v %s", err, group.Body)
	}
	if f := player.next(); f.Type != "Turn" {
		t.Fatalf("got %+v, want the group's Turn", f)
	}

	dialAgent(t, b, "player-0")
	list, err := api(t, c).ListAgentsWithResponse(t.Context(), &client.ListAgentsParams{Limit: ptr(1)})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 || list.JSON200.Items[0].ID != "player-0" || list.JSON200.NextCursor == nil {
		t.Fatalf("first page through c: %v %s", err, list.Body)
	}
	list, err = api(t, c).ListAgentsWithResponse(t.Context(), &client.ListAgentsParams{Limit: ptr(1), Cursor: list.JSON200.NextCursor})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 || list.JSON200.Items[0].ID != "player-1" || list.JSON200.Items[0].Node != "a" {
		t.Fatalf("second page through c: %v %s", err, list.Body)
	}
	list, err = api(t, c).ListAgentsWithResponse(t.Context(), &client.ListAgentsParams{Node: ptr("b")})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 || list.JSON200.Items[0].ID != "player-0" {
		t.Fatalf("node b's agents through c: %v %s", err, list.Body)
	}

	kick, err := api(t, b).KickAgentWithResponse(t.Context(), "player-1", &client.KickAgentParams{Reason: ptr("cheating")})
	if err != nil || kick.StatusCode() != http.StatusNoContent {
		t.Fatalf("kick through b: %v %v", err, kick.Status())
	}
	if f := player.next(); f.Type != "Kicked" || !strings.Contains(string(f.Data), "cheating") {
		t.Fatalf("got %+v, want Kicked cheating", f)
	}
	eventually(t, 5*time.Second, "the kicked agent is gone for every node", func() bool {
		status, _ := call(t, c, "player-1", 1000)
		return status == http.StatusNotFound
	})
}

// TestClusterBroadcast: one broadcast, or group push, reaches the agents
// of every node; a hung node is left out after 2 s, and the answer of a
// broadcast says so.
func TestClusterBroadcast(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(), "a", "b", "c")
	var agents []*agent
	for id, p := range nodes {
		agents = append(agents, dialAgent(t, p, "on-"+id))
		if res, err := api(t, p).JoinGroupWithResponse(t.Context(), "on-"+id, "everyone"); err != nil || res.StatusCode() != http.StatusNoContent {
			t.Fatalf("on-%s joining: %v %v", id, err, res.Status())
		}
	}
	group, err := api(t, nodes["b"]).PushGroupEventWithResponse(t.Context(), "everyone", client.EventRequest{Type: "Turn"})
	if err != nil || group.JSON200 == nil || group.JSON200.Delivered != 3 {
		t.Fatalf("group push: %v %s, want 3 delivered", err, group.Body)
	}
	res, err := api(t, nodes["b"]).BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "Tick"})
	if err != nil || res.JSON200 == nil {
		t.Fatalf("broadcast: %v %v", err, res.Status())
	}
	if r := res.JSON200; r.Delivered != 3 || r.Nodes != 3 || r.Partial {
		t.Fatalf("broadcast answered %+v, want 3 delivered by 3 nodes", *r)
	}
	for _, a := range agents {
		for _, want := range []string{"Turn", "Tick"} {
			if f := a.next(); f.Type != want {
				t.Fatalf("got %+v, want %s", f, want)
			}
		}
	}

	hung := nodes["c"]
	hung.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { hung.Signal(syscall.SIGCONT) })
	// A stop takes effect when the process's threads are next scheduled:
	// on a loaded machine, c could still answer the next broadcast.
	eventually(t, 5*time.Second, "c is stopped", func() bool { return stopped(hung.Pid()) })
	start := time.Now()
	res, err = api(t, nodes["b"]).BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "Tick"})
	if err != nil || res.JSON200 == nil {
		t.Fatalf("broadcast with a hung node: %v %v", err, res.Status())
	}
	if r := res.JSON200; r.Delivered != 2 || r.Nodes != 2 || !r.Partial {
		t.Fatalf("broadcast with a hung node answered %+v, want 2 delivered by 2 nodes, partial", *r)
	}
	if d := time.Since(start); d > 4*time.Second { // 2 s, and slack for a loaded -race run
		t.Fatalf("broadcast with a hung node took %v, want about 2 s", d)
	}
	start = time.Now()
	group, err = api(t, nodes["b"]).PushGroupEventWithResponse(t.Context(), "everyone", client.EventRequest{Type: "Turn"})
	if err != nil || group.JSON200 == nil || group.JSON200.Delivered != 2 {
		t.Fatalf("group push with a hung node: %v %s, want the 2 live members", err, group.Body)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("group push with a hung node took %v, want about 2 s", d)
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// stopped reports whether process pid is stopped by a signal, as
// /proc/pid/stat says; where there is no /proc it trusts the signal.
func stopped(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	_, after, _ := bytes.Cut(stat, []byte(") "))
	return len(after) > 0 && after[0] == 'T'
}

// sseStream reads a node's /events.
type sseStream struct {
	t      testing.TB
	events chan sseEvent
}

type sseEvent struct {
	Type, ID string
	Data     sseData
}

// sseData is the part of an event's data that tests look at.
type sseData struct {
	Agent, Node, Reason, Type string
}

// openEvents opens GET /events on p, resuming after lastID when set, and
// fails t unless it answers 200 with text/event-stream.
func openEvents(t testing.TB, p *servertest.Process, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.HTTPAddr+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET /events on %s: %d %s %s, want 200 text/event-stream", p.HTTPAddr, resp.StatusCode, ct, body)
	}
	s := &sseStream{t: t, events: make(chan sseEvent, 256)}
	var reader sync.WaitGroup
	reader.Go(func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.Data)
			case line == "" && ev.Type != "":
				s.events <- ev
				ev = sseEvent{}
			}
		}
	})
	t.Cleanup(func() { cancel(); resp.Body.Close(); reader.Wait() })
	return s
}

// next returns the next event, failing t after timeout.
func (s *sseStream) next(timeout time.Duration) sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(timeout):
		s.t.Fatalf("no event within %v", timeout)
		return sseEvent{}
	}
}

// expect fails the test unless the next events are want, in order, as
// their types and data tell.
func (s *sseStream) expect(want ...sseEvent) {
	s.t.Helper()
	for i, w := range want {
		if got := s.next(10 * time.Second); got.Type != w.Type || got.Data != w.Data {
			s.t.Fatalf("event %d of %d: got %s %+v, want %s %+v", i+1, len(want), got.Type, got.Data, w.Type, w.Data)
		}
	}
}

// quiet fails the test if another event comes within a moment: what
// came was all there was, none of it twice.
func (s *sseStream) quiet() {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			s.t.Fatalf("got %+v after the last event", ev)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// TestClusterEvents: /events on any node shows every node's agent events,
// and a Last-Event-ID from one node resumes on another, none missing,
// none twice.
func TestClusterEvents(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(), "a", "b", "c")
	onB := openEvents(t, nodes["b"], "")
	player := dialAgent(t, nodes["a"], "player-1")
	connected := onB.next(10 * time.Second)
	if connected.Type != "agent.connected" || connected.Data.Agent != "player-1" || connected.Data.Node != "a" {
		t.Fatalf("b saw %+v, want a's player-1 connecting", connected)
	}
	player.send(frame{Type: "Move", Data: json.RawMessage(`{"x":1}`)})
	message := onB.next(10 * time.Second)
	if message.Type != "agent.message" || message.Data.Type != "Move" {
		t.Fatalf("b saw %+v, want the Move", message)
	}
	player.conn.Close(websocket.StatusNormalClosure, "")
	gone := onB.next(10 * time.Second)
	if gone.Type != "agent.disconnected" || gone.Data.Agent != "player-1" {
		t.Fatalf("b saw %+v, want player-1 leaving", gone)
	}

	// At once, whether or not c's log, which follows the cluster's stream
	// a little behind, has the id yet.
	onC := openEvents(t, nodes["c"], connected.ID)
	for _, want := range []sseEvent{message, gone} {
		if got := onC.next(10 * time.Second); got.ID != want.ID || got.Type != want.Type {
			t.Fatalf("resumed on c: got %s %s, want %s %s", got.Type, got.ID, want.Type, want.ID)
		}
	}
	onC.quiet()
}

// TestClusterDuplicateID: the same id connecting on another node wins;
// the older session is kicked with reason replaced.
func TestClusterDuplicateID(t *testing.T) {
	redis := redistest.Start(t)
	// b and c before a: until its next heartbeat b has not heard of a,
	// where the older session is, and must look a up to kick it.
	nodes := startCluster(t, redis.URL(), "b", "c")
	nodes["a"] = servertest.Start(t, "--node-id", "a", "--redis", redis.URL())
	older := dialAgent(t, nodes["a"], "twin")
	dialAgent(t, nodes["b"], "twin")
	if f := older.next(); f.Type != "Kicked" || !strings.Contains(string(f.Data), `"replaced"`) {
		t.Fatalf("the older session got %+v, want Kicked replaced", f)
	}
	got, err := api(t, nodes["c"]).GetAgentWithResponse(t.Context(), "twin")
	if err != nil || got.JSON200 == nil || got.JSON200.Node != "b" {
		t.Fatalf("twin through c: %v %s, want it on b", err, got.Body)
	}
	if status, body := call(t, nodes["c"], "twin", 5000); status != http.StatusOK {
		t.Fatalf("call to the newer twin: %d %s", status, body)
	}
}

// TestClusterNodeDeath: a node killed without a word leaves /nodes, and
// its agents /agents, within 15 s; a call in flight to one of its agents
// answers 410 once the death is seen, and later calls 404 at once.
func TestClusterNodeDeath(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(), "a", "b")
	a, b := nodes["a"], nodes["b"]
	doomed := dialAgent(t, a, "doomed")
	if status, body := call(t, b, "doomed", 5000); status != http.StatusOK {
		t.Fatalf("call before the death: %d %s", status, body)
	}

	type answer struct {
		status int
		after  time.Duration
	}
	inFlight := make(chan answer, 1)
	start := time.Now()
	go func() {
		res, err := api(t, b).CallAgentWithResponse(context.Background(), "doomed", client.CallRequest{Type: "Hang", TimeoutMs: ptr(60000)})
		if err != nil {
			t.Error(err)
			inFlight <- answer{0, time.Since(start)}
			return
		}
		inFlight <- answer{res.StatusCode(), time.Since(start)}
	}()
	if f := doomed.next(); f.Type != "Hang" { // the call reached the agent, which does not answer
		t.Fatalf("doomed got %+v, want the Hang call", f)
	}
	a.Kill()
	a.Wait()

	select {
	case got := <-inFlight:
		if got.status != http.StatusGone || got.after > 15*time.Second {
			t.Fatalf("call in flight answered %d after %v, want 410 within 15 s", got.status, got.after)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call in flight did not answer within 20 s of the node's death")
	}
	eventually(t, 15*time.Second-time.Since(start), "b no longer lists a or its agent", func() bool {
		ns, err := api(t, b).ListNodesWithResponse(t.Context())
		as, err2 := api(t, b).ListAgentsWithResponse(t.Context(), nil)
		return err == nil && err2 == nil && ns.JSON200 != nil && len(ns.JSON200.Items) == 1 &&
			as.JSON200 != nil && len(as.JSON200.Items) == 0
	})
	callStart := time.Now()
	if status, body := call(t, b, "doomed", 5000); status != http.StatusNotFound || time.Since(callStart) > time.Second {
		t.Fatalf("call after the death: %d %s after %v, want 404 at once", status, body, time.Since(callStart))
	}
}

// TestClusterRedisOutage: while Redis is down local agents keep working,
// cross-node operations answer 503 within 2 s and /readyz 503; once
// Redis is back, empty, the cluster heals by itself within 10 s: every
// agent can be called from any node again, and the events of the outage
// reach SSE readers on other nodes, in order, none missing, none twice.
func TestClusterRedisOutage(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(), "a", "b")
	a, b := nodes["a"], nodes["b"]
	onB := openEvents(t, b, "")
	local := dialAgent(t, a, "local")
	leaver := dialAgent(t, a, "leaver")
	dialAgent(t, b, "remote")
	var lastBefore string
	for range 3 {
		lastBefore = onB.next(10 * time.Second).ID // agent.connected each
	}

	redis.Kill()
	local.send(frame{Type: "First"})
	local.send(frame{Type: "Second"})
	// The call's Reply follows the messages on local's connection: a has
	// read them once the call answers.
	if status, body := call(t, a, "local", 5000); status != http.StatusOK {
		t.Fatalf("local call while Redis is down: %d %s", status, body)
	}
	start := time.Now()
	if status, body := call(t, a, "remote", 5000); status != http.StatusServiceUnavailable || time.Since(start) > 2*time.Second {
		t.Fatalf("remote call while Redis is down: %d %s after %v, want 503 within 2 s", status, body, time.Since(start))
	}
	bc, err := api(t, a).BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "Tick"})
	if err != nil || bc.JSON200 == nil || bc.JSON200.Delivered != 2 || !bc.JSON200.Partial {
		t.Fatalf("broadcast while Redis is down: %v %s, want a's two agents, partial", err, bc.Body)
	}
	if f := local.next(); f.Type != "Tick" {
		t.Fatalf("got %+v, want Tick", f)
	}
	ready, err := api(t, a).ReadyzWithResponse(t.Context())
	if err != nil || ready.StatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("readyz while Redis is down: %v %v, want 503", err, ready.Status())
	}
	dialAgent(t, a, "late")
	leaver.conn.Close(websocket.StatusNormalClosure, "")
	eventually(t, 5*time.Second, "a keeps the outage's four events", func() bool {
		metrics, err := api(t, a).MetricsWithResponse(t.Context())
		return err == nil && strings.Contains(string(metrics.Body), "\nhotpot_outbox_events 4\n")
	})
	outage := []sseEvent{
		{Type: "agent.message", Data: sseData{Agent: "local", Node: "a", Type: "First"}},
		{Type: "agent.message", Data: sseData{Agent: "local", Node: "a", Type: "Second"}},
		{Type: "agent.connected", Data: sseData{Agent: "late", Node: "a"}},
		{Type: "agent.disconnected", Data: sseData{Agent: "leaver", Node: "a", Reason: "closed by client"}},
	}

	redis.Restart()
	resumed := openEvents(t, b, lastBefore)
	eventually(t, 10*time.Second, "every agent, of before the outage or of during it, can be called from the other node", func() bool {
		ns, err := api(t, b).ListNodesWithResponse(t.Context())
		if err != nil || ns.JSON200 == nil || len(ns.JSON200.Items) != 2 {
			return false
		}
		for _, c := range []struct {
			from *servertest.Process
			to   string
		}{{b, "local"}, {b, "late"}, {a, "remote"}} {
			if status, _ := call(t, c.from, c.to, 1000); status != http.StatusOK {
				return false
			}
		}
		return true
	})
	onB.expect(outage...)
	resumed.expect(outage...)
	resumed.quiet()
	ready, err = api(t, a).ReadyzWithResponse(t.Context())
	if err != nil || ready.StatusCode() != http.StatusOK {
		t.Fatalf("readyz once Redis is back: %v %v", err, ready.Status())
	}
}

// TestClusterRedisOutageOverflow: a node keeps up to --event-retention
// events of an outage; beyond that it drops the oldest, counts and logs
// them, and publishes the others, in order, when Redis returns.
func TestClusterRedisOutageOverflow(t *testing.T) {
	redis := redistest.Start(t)
	// b keeps the default: a live stream may lag half the retention, and
	// a's kept events reach it at once.
	nodes := startClusterWith(t, redis.URL(), map[string][]string{"a": {"--event-retention", "3"}, "b": nil})
	a, b := nodes["a"], nodes["b"]
	onB := openEvents(t, b, "")
	talker := dialAgent(t, a, "talker")
	onB.next(10 * time.Second) // agent.connected

	redis.Kill()
	for _, typ := range []string{"M1", "M2", "M3", "M4", "M5"} {
		talker.send(frame{Type: typ})
	}
	// The call's Reply follows the messages: a has read them once it answers.
	if status, body := call(t, a, "talker", 5000); status != http.StatusOK {
		t.Fatalf("local call while Redis is down: %d %s", status, body)
	}
	// Once counted, the two are gone for good: an append of them that was
	// on its way when they were dropped has failed, and no later one has
	// them.
	eventually(t, 10*time.Second, "a counts 2 of the outage's 5 events dropped, 3 kept", func() bool {
		metrics, err := api(t, a).MetricsWithResponse(t.Context())
		return err == nil && strings.Contains(string(metrics.Body), "\nhotpot_events_dropped_total 2\n")
	})
	eventually(t, 10*time.Second, "a warns that it dropped events", func() bool {
		return a.Logged(func(l servertest.LogLine) bool {
			return l.Level == "WARN" && strings.Contains(l.Msg, "dropped agent events")
		})
	})

	redis.Restart()
	kept := make([]sseEvent, 0, 3)
	for _, typ := range []string{"M3", "M4", "M5"} {
		kept = append(kept, sseEvent{Type: "agent.message", Data: sseData{Agent: "talker", Node: "a", Type: typ}})
	}
	onB.expect(kept...)
	onB.quiet()
}

// TestClusterRedisPassword: the password travels in the URL; without it
// a node starts but is not ready.
func TestClusterRedisPassword(t *testing.T) {
	redis := redistest.Start(t, redistest.WithPassword("s3cret"))
	nodes := startCluster(t, redis.URL(), "a", "b")
	dialAgent(t, nodes["a"], "p")
	if status, body := call(t, nodes["b"], "p", 5000); status != http.StatusOK {
		t.Fatalf("call across a password-protected Redis: %d %s", status, body)
	}
	wrong := servertest.Start(t, "--node-id", "c", "--redis", strings.Replace(redis.URL(), "s3cret", "wrong", 1))
	ready, err := api(t, wrong).ReadyzWithResponse(t.Context())
	if err != nil || ready.StatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("readyz with a wrong password: %v %v, want 503", err, ready.Status())
	}
}

// TestClusterRedisDB: the database number in the URL scopes a cluster:
// nodes on db 3 reach each other's agents, and a node on db 0 under the
// same prefix sees neither those nodes nor their agents, which its
// broadcasts do not reach.
func TestClusterRedisDB(t *testing.T) {
	redis := redistest.Start(t)
	db3, ok := strings.CutSuffix(redis.URL(), "/0")
	if !ok {
		t.Fatalf("URL %s does not end with db 0", redis.URL())
	}
	db3 += "/3"
	nodes := startCluster(t, db3, "a", "b")
	player := dialAgent(t, nodes["a"], "p")
	if status, body := call(t, nodes["b"], "p", 5000); status != http.StatusOK {
		t.Fatalf("call across db 3: %d %s", status, body)
	}

	other := startCluster(t, redis.URL(), "c")["c"]
	if status, body := call(t, other, "p", 5000); status != http.StatusNotFound {
		t.Fatalf("call from db 0 to an agent on db 3: %d %s, want 404", status, body)
	}
	agents, err := api(t, other).ListAgentsWithResponse(t.Context(), nil)
	if err != nil || agents.JSON200 == nil || len(agents.JSON200.Items) != 0 {
		t.Fatalf("agents seen from db 0: %v %s, want none", err, agents.Body)
	}
	leak, err := api(t, other).BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "Leak"})
	if err != nil || leak.JSON200 == nil || leak.JSON200.Delivered != 0 || leak.JSON200.Nodes != 1 {
		t.Fatalf("broadcast from db 0: %v %s, want c alone, none delivered", err, leak.Body)
	}
	// A broadcast on db 3 follows c's on the channel of surveys: the
	// player gets it first, had c's reached it.
	tick, err := api(t, nodes["b"]).BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "Tick"})
	if err != nil || tick.JSON200 == nil || tick.JSON200.Delivered != 1 || tick.JSON200.Nodes != 2 {
		t.Fatalf("broadcast on db 3: %v %s, want 1 delivered by 2 nodes", err, tick.Body)
	}
	if f := player.next(); f.Type != "Tick" {
		t.Fatalf("the player on db 3 got %+v, want only db 3's Tick", f)
	}
}

// A rediss:// URL joins the cluster over TLS, checking the server's
// certificate against the system's trusted authorities (SSL_CERT_FILE
// here), with the password from the URL.
func TestClusterRedisTLS(t *testing.T) {
	redis := redistest.Start(t, redistest.WithTLS(), redistest.WithPassword("s3cret"))
	if !strings.HasPrefix(redis.URL(), "rediss://") {
		t.Fatalf("URL %s", redis.URL())
	}
	t.Setenv("SSL_CERT_FILE", redis.CAFile()) // the node processes inherit it
	nodes := startCluster(t, redis.URL(), "a", "b")
	dialAgent(t, nodes["a"], "p")
	if status, body := call(t, nodes["b"], "p", 5000); status != http.StatusOK {
		t.Fatalf("call across Redis over TLS: %d %s", status, body)
	}

	t.Setenv("SSL_CERT_FILE", os.DevNull) // trusts nothing
	untrusting := servertest.Start(t, "--node-id", "c", "--redis", redis.URL())
	ready, err := api(t, untrusting).ReadyzWithResponse(t.Context())
	if err != nil || ready.StatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("readyz of a node that does not trust Redis's certificate: %v %v, want 503", err, ready.Status())
	}
}

// A rediss:// URL with --redis-cluster joins a Redis Cluster over TLS,
// with the password from the URL: the nodes find every master, from the
// seeds, and reach each other's agents.
func TestClusterRedisClusterTLS(t *testing.T) {
	redis := redistest.StartCluster(t, 3, redistest.WithTLS(), redistest.WithPassword("s3cret"))
	if u := redis.URL(); !strings.HasPrefix(u, "rediss://:s3cret@") {
		t.Fatalf("URL %s", u)
	}
	t.Setenv("SSL_CERT_FILE", redis.Servers[0].CAFile()) // the node processes inherit it
	nodes := startClusterWith(t, redis.URL(), map[string][]string{"a": {"--redis-cluster"}, "b": {"--redis-cluster"}})
	for _, id := range []string{"p1", "p2", "p3"} { // on the three masters
		dialAgent(t, nodes["a"], id)
		if status, body := call(t, nodes["b"], id, 5000); status != http.StatusOK {
			t.Fatalf("call to %s across a Redis Cluster over TLS: %d %s", id, status, body)
		}
	}
}

// TestClusterSIGTERMLeaves: a node stopped with SIGTERM kicks its agents,
// leaves /nodes at once and takes its agents out of the directory; the
// cluster's metrics count what crossed between nodes.
func TestClusterSIGTERMLeaves(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(), "a", "b")
	a, b := nodes["a"], nodes["b"]
	leaver := dialAgent(t, a, "leaver")
	if status, body := call(t, b, "leaver", 5000); status != http.StatusOK {
		t.Fatalf("call before SIGTERM: %d %s", status, body)
	}
	metrics, err := api(t, b).MetricsWithResponse(t.Context())
	if err != nil || !strings.Contains(string(metrics.Body), `hotpot_cluster_requests_total{op="call",outcome="ok"} 1`) {
		t.Fatalf("b's metrics after one cross-node call: %v\n%s", err, metrics.Body)
	}

	a.Signal(syscall.SIGTERM)
	if f := leaver.next(); f.Type != "Kicked" || !strings.Contains(string(f.Data), "shutdown") {
		t.Fatalf("got %+v, want Kicked shutdown", f)
	}
	if err := a.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
	ns, err := api(t, b).ListNodesWithResponse(t.Context())
	if err != nil || ns.JSON200 == nil || len(ns.JSON200.Items) != 1 || ns.JSON200.Items[0].ID != "b" {
		t.Fatalf("nodes once a stopped: %v %s, want b alone", err, ns.Body)
	}
	if status, body := call(t, b, "leaver", 5000); status != http.StatusNotFound {
		t.Fatalf("call once a stopped: %d %s, want 404", status, body)
	}
}

// TestClusterSIGTERMStreams: while a node drains, event streams keep
// serving, on it as on the others, and each of its agents'
// agent.disconnected "shutdown" reaches them before they end.
func TestClusterSIGTERMStreams(t *testing.T) {
	redis := redistest.Start(t)
	// The hanger's Reply ends a's drain: its timeout is only a bound,
	// far enough not to end it first on a loaded machine.
	nodes := startClusterWith(t, redis.URL(), map[string][]string{"a": {"--drain-timeout", "20s"}, "b": nil})
	a, b := nodes["a"], nodes["b"]
	onB := openEvents(t, b, "")
	hanger, talker := dialAgent(t, a, "hanger"), dialAgent(t, a, "talker")
	var connected string
	for range 2 {
		connected = onB.next(10 * time.Second).ID // agent.connected each
	}
	// A call in flight holds a's drain until the hanger answers it.
	calling := hang(t, a, "hanger")
	held := hanger.next()
	if held.Type != "Hang" {
		t.Fatalf("hanger got %+v, want the Hang call", held)
	}

	a.Signal(syscall.SIGTERM)
	eventually(t, 5*time.Second, "/readyz on a answers 503 while it drains", func() bool {
		res, err := api(t, a).ReadyzWithResponse(t.Context())
		return err == nil && res.StatusCode() == http.StatusServiceUnavailable
	})
	// After the connections: a's log follows the cluster's stream, and
	// may not have them yet.
	onA := openEvents(t, a, connected)
	talker.send(frame{Type: "Draining"})
	for name, s := range map[string]*sseStream{"a": onA, "b": onB} {
		if ev := s.next(10 * time.Second); ev.Type != "agent.message" || ev.Data != (sseData{Agent: "talker", Node: "a", Type: "Draining"}) {
			t.Fatalf("%s's stream during a's drain: got %+v, want talker's Draining", name, ev)
		}
	}

	hanger.send(frame{Type: "Reply", ID: held.ID}) // ends the drain
	if status := <-calling; status != http.StatusOK {
		t.Fatalf("the call answered during the drain: %d, want 200", status)
	}
	for _, ag := range []*agent{hanger, talker} {
		if f := ag.next(); f.Type != "Kicked" || !strings.Contains(string(f.Data), `"shutdown"`) {
			t.Fatalf("got %+v, want Kicked shutdown", f)
		}
	}
	for name, s := range map[string]*sseStream{"a": onA, "b": onB} {
		left := make(map[string]bool)
		for range 2 {
			ev := s.next(10 * time.Second)
			if ev.Type != "agent.disconnected" || ev.Data.Node != "a" || ev.Data.Reason != "shutdown" || left[ev.Data.Agent] {
				t.Fatalf("%s's stream after a's drain: got %+v, want each of a's agents leaving for shutdown", name, ev)
			}
			left[ev.Data.Agent] = true
		}
	}
	select {
	case ev, ok := <-onA.events:
		if ok {
			t.Fatalf("a's stream went on after its agents left: %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a's stream did not end when a stopped")
	}
	if err := a.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
}

// TestClusterOnRedisCluster: with --redis-cluster, nodes meet through a
// Redis Cluster of three masters — calls route to the owner, a broadcast
// counts every node, events reach every node's stream. A master that
// restarts empty takes registrations with it, though not the nodes'
// heartbeats: while it is down a call through it answers 503 within 2 s
// and /readyz 503, and within 10 s of its return every agent can be
// called from any node again.
func TestClusterOnRedisCluster(t *testing.T) {
	redis := redistest.StartCluster(t, 3)
	nodes := startClusterWith(t, redis.URL(), map[string][]string{"a": {"--redis-cluster"}, "b": {"--redis-cluster"}})
	a, b := nodes["a"], nodes["b"]
	onB := openEvents(t, b, "")
	ids := []string{"p1", "p2", "p3", "p4", "p5", "p6"} // keys on every master
	var players []*agent
	for _, id := range ids {
		players = append(players, dialAgent(t, a, id))
		if ev := onB.next(10 * time.Second); ev.Type != "agent.connected" || ev.Data.Agent != id || ev.Data.Node != "a" {
			t.Fatalf("b saw %+v, want a's %s connecting", ev, id)
		}
	}
	players = append(players, dialAgent(t, b, "remote"))
	allCallable := func() bool {
		for _, id := range ids {
			if status, _ := call(t, b, id, 1000); status != http.StatusOK {
				return false
			}
		}
		status, _ := call(t, a, "remote", 1000)
		return status == http.StatusOK
	}
	if !allCallable() {
		t.Fatal("an agent cannot be called from the other node")
	}
	res, err := api(t, b).BroadcastWithResponse(t.Context(), nil, client.EventRequest{Type: "Tick"})
	if err != nil || res.JSON200 == nil || res.JSON200.Delivered != len(players) || res.JSON200.Nodes != 2 || res.JSON200.Partial {
		t.Fatalf("broadcast: %v %s, want %d delivered by 2 nodes", err, res.Body, len(players))
	}
	for _, p := range players {
		if f := p.next(); f.Type != "Tick" {
			t.Fatalf("got %+v, want Tick", f)
		}
	}

	// The master of p1's key, which serves a's channel but not the nodes'
	// heartbeats (the slots of these names are fixed: CRC16 of the key).
	master := redis.ServerOf(t, "hotpot:agent:{p1}")
	if master != redis.ServerOf(t, "hotpot:node:{a}") || master == redis.ServerOf(t, "{hotpot}:node:a") {
		t.Fatal("the keys' layout over the masters is not the one this test was written for")
	}
	master.Kill()
	start := time.Now()
	if status, body := call(t, b, "p2", 5000); status != http.StatusServiceUnavailable || time.Since(start) > 2*time.Second {
		t.Fatalf("call through a's channel on the dead master: %d %s after %v, want 503 within 2 s", status, body, time.Since(start))
	}
	eventually(t, 5*time.Second, "neither node is ready", func() bool {
		for _, p := range nodes {
			if ready, err := api(t, p).ReadyzWithResponse(t.Context()); err != nil || ready.StatusCode() != http.StatusServiceUnavailable {
				return false
			}
		}
		return true
	})
	master.Restart()
	// From a node that has seen none of them: the owners b remembers
	// would hide their loss from the directory.
	c := servertest.Start(t, "--node-id", "c", "--redis-cluster", "--redis", redis.URL())
	eventually(t, 10*time.Second, "every agent can be called from a new node", func() bool {
		for _, id := range append(ids, "remote") {
			if status, _ := call(t, c, id, 1000); status != http.StatusOK {
				return false
			}
		}
		return true
	})
}
