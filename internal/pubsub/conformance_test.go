package pubsub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/redistest"
)

// newClusterFunc starts a cluster of its own for t whose stream keeps
// about retention events, and returns join, which returns the broker of
// a distinct node of that cluster. Every broker join returns is closed
// when t ends; closing it earlier is fine.
type newClusterFunc func(t *testing.T, retention int) (join func(node string) Broker)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	runConformance(t, func(t *testing.T, retention int) func(string) Broker {
		hub := NewMemoryHub(retention, 64<<20)
		return func(node string) Broker { return closeAtEnd(t, hub.Join(node)) }
	}, 0)
}

// TestRedisConformance: the Redis broker keeps every contract of Broker,
// and what it sends Redis meanwhile fits a Redis Cluster (see
// checkFitsRedisCluster).
func TestRedisConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	monitor := startMonitor(t, srv.Addr())
	t.Run("suite", func(t *testing.T) { // returns once its parallel tests are done
		runConformance(t, func(t *testing.T, retention int) func(string) Broker {
			prefix := "hotpot-test:" + t.Name() // a cluster of its own on the shared server
			return func(node string) Broker { return newRedis(t, srv.URL(), prefix, node, retention) }
		}, redisTrimSlack)
	})
	checkFitsRedisCluster(t, srv.URL(), monitor.stop())
}

// TestRedisClusterConformance: on a Redis Cluster of three masters, with
// sharded channels, the Redis broker keeps every contract of Broker too.
func TestRedisClusterConformance(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	runConformance(t, func(t *testing.T, retention int) func(string) Broker {
		prefix := "hotpot-test:" + t.Name()
		return func(node string) Broker {
			return startRedis(t, RedisOptions{URL: cluster.URL(), Cluster: true, Prefix: prefix, Node: node, Retention: retention})
		}
	}, redisTrimSlack)
}

// redisTrimSlack is how far beyond its retention a Redis stream may
// grow: XADD MAXLEN ~ trims whole nodes of the stream's radix tree, which
// hold stream-node-max-entries (100 by default) entries each.
const redisTrimSlack = 100

// newRedis returns the Redis broker of node in the cluster under prefix,
// closed when t ends, logging to t.
func newRedis(t testing.TB, url, prefix, node string, retention int) Broker {
	t.Helper()
	return startRedis(t, RedisOptions{URL: url, Prefix: prefix, Node: node, Retention: retention})
}

// startRedis returns the Redis broker opts describe, logging to t, closed
// when t ends.
func startRedis(t testing.TB, opts RedisOptions) Broker {
	t.Helper()
	opts.Log = slog.New(slog.NewTextHandler(t.Output(), nil)).With("node", opts.Node)
	r, err := NewRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	return closeAtEnd(t, r)
}

// closeOnce is a Broker whose Close closes it the first time only, so
// that a test may close it before its cleanup does.
type closeOnce struct {
	Broker
	once sync.Once
	err  error
}

func (b *closeOnce) Close() error {
	b.once.Do(func() { b.err = b.Broker.Close() })
	return b.err
}

// closeAtEnd closes b when t ends and fails t if that fails.
func closeAtEnd(t testing.TB, b Broker) Broker {
	c := &closeOnce{Broker: b}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close %s: %v", b.Node(), err)
		}
	})
	return c
}

// conformanceRetention is the retention of the suite's clusters but the
// one that tests it.
const conformanceRetention = 1000

// runConformance checks that the brokers newCluster makes keep every
// contract of Broker. A stream may keep up to trimSlack events more than
// its retention.
func runConformance(t *testing.T, newCluster newClusterFunc, trimSlack int) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, join func(string) Broker)
	}{
		{"RequestReachesTheNamedNode", testRequestReachesTheNamedNode},
		{"RequestToNodeNobodyServes", testRequestToNodeNobodyServes},
		{"RequestToNodeThatCloses", testRequestToNodeThatCloses},
		{"RequestHonoursContext", testRequestHonoursContext},
		{"RequestEndsWhenGoneCloses", testRequestEndsWhenGoneCloses},
		{"ConcurrentRequestsEachGetTheirAnswer", testConcurrentRequestsEachGetTheirAnswer},
		{"SurveyGathersTheOtherNodes", testSurveyGathersTheOtherNodes},
		{"SurveyReturnsOnceExpectedAnswered", testSurveyReturnsOnceExpectedAnswered},
		{"SurveyReturnsAtDeadline", testSurveyReturnsAtDeadline},
		{"CloseFailsWaitingRequest", testCloseFailsWaitingRequest},
		{"CloseWaitsForHandlers", testCloseWaitsForHandlers},
		{"Register", testRegister},
		{"UnregisterOnlyByOwner", testUnregisterOnlyByOwner},
		{"Restore", testRestore},
		{"Heartbeat", testHeartbeat},
		{"ExpiredNodeIsDead", testExpiredNodeIsDead},
		{"Forget", testForget},
		{"StreamOrder", testStreamOrder},
		{"ReadWaitsForAppend", testReadWaitsForAppend},
		{"ReadEndsWithContext", testReadEndsWithContext},
		{"Newest", testNewest},
		{"EventRoundTrip", testEventRoundTrip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newCluster(t, conformanceRetention))
		})
	}
	t.Run("Retention", func(t *testing.T) {
		t.Parallel()
		testRetention(t, newCluster, trimSlack)
	})
}

// --- helpers ---

// testCtx returns a context that ends after d or with t.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually calls f until it returns nil, and fails t with f's last
// error if it has not within d.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serve makes b serve h and waits until b is ready: a Redis broker
// subscribes in the background after Serve returns.
func serve(t testing.TB, b Broker, h Handler) {
	t.Helper()
	b.Serve(h)
	eventually(t, 5*time.Second, func() error { return b.Ready(testCtx(t, time.Second)) })
}

// recorder is a Handler that answers "node:from:msg" and counts the
// messages it got.
type recorder struct {
	node  string
	calls atomic.Int64
}

func (r *recorder) handle(_ context.Context, from string, msg []byte) []byte {
	r.calls.Add(1)
	return fmt.Appendf(nil, "%s:%s:%s", r.node, from, msg)
}

// serveRecorder makes b serve a recorder and returns it.
func serveRecorder(t testing.TB, b Broker) *recorder {
	t.Helper()
	r := &recorder{node: b.Node()}
	serve(t, b, r.handle)
	return r
}

// blocker is a Handler that answers nothing until its broker closes; it
// says when it got a message.
type blocker struct {
	started chan struct{} // gets one value per message handled
}

func newBlocker() *blocker { return &blocker{started: make(chan struct{}, 16)} }

func (b *blocker) handle(ctx context.Context, _ string, _ []byte) []byte {
	b.started <- struct{}{}
	<-ctx.Done()
	return []byte("too late")
}

// waitStarted waits until b got a message.
func (b *blocker) waitStarted(t testing.TB) {
	t.Helper()
	select {
	case <-b.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the blocking handler got no message")
	}
}

// result is what a call that returns bytes returned.
type result struct {
	reply []byte
	err   error
}

// requestAsync runs b.Request on a goroutine and returns where its
// result arrives. The goroutine ends with ctx, or when gone closes.
func requestAsync(ctx context.Context, b Broker, node string, msg string, gone <-chan struct{}) <-chan result {
	done := make(chan result, 1)
	go func() {
		reply, err := b.Request(ctx, node, []byte(msg), gone)
		done <- result{reply, err}
	}()
	return done
}

// await waits for a result that must come within d.
func await[T any](t testing.TB, ch <-chan T, d time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("no result within %v", d)
		panic("unreachable")
	}
}

// --- bus ---

func testRequestReachesTheNamedNode(t *testing.T, join func(string) Broker) {
	a, b, c := join("a"), join("b"), join("c")
	serveRecorder(t, a)
	rb, rc := serveRecorder(t, b), serveRecorder(t, c)

	for _, tc := range []struct {
		to   string
		want string
	}{{"b", "b:a:hello"}, {"c", "c:a:hello"}, {"b", "b:a:hello"}} {
		reply, err := a.Request(testCtx(t, 5*time.Second), tc.to, []byte("hello"), nil)
		if err != nil || string(reply) != tc.want {
			t.Fatalf("Request(%s) = %q, %v; want %q", tc.to, reply, err, tc.want)
		}
	}
	if got := rb.calls.Load(); got != 2 {
		t.Errorf("b handled %d requests, want 2", got)
	}
	if got := rc.calls.Load(); got != 1 {
		t.Errorf("c handled %d requests, want 1", got)
	}
}

// testConcurrentRequestsEachGetTheirAnswer: requests sent at once, which
// the Redis broker carries several to a PUBLISH, reach their node once
// each, and every answer its own caller.
func testConcurrentRequestsEachGetTheirAnswer(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	serveRecorder(t, a)
	rb := serveRecorder(t, b)
	const requests = 500
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			msg := fmt.Sprintf("m%d", i)
			reply, err := a.Request(testCtx(t, 10*time.Second), "b", []byte(msg), nil)
			if err != nil || string(reply) != "b:a:"+msg {
				t.Errorf("Request(%s) = %q, %v; want %q", msg, reply, err, "b:a:"+msg)
			}
		})
	}
	wg.Wait()
	if got := rb.calls.Load(); got != requests {
		t.Errorf("b handled %d requests, want %d", got, requests)
	}
}

func testRequestToNodeNobodyServes(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	serveRecorder(t, a)
	serveRecorder(t, b)

	if _, err := a.Request(testCtx(t, 5*time.Second), "ghost", []byte("hello"), nil); !errors.Is(err, ErrNodeGone) {
		t.Fatalf("Request(ghost) error = %v, want ErrNodeGone", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Redis drops a closed subscriber's channels when it sees the
	// connection close, a moment after Close returns.
	eventually(t, 5*time.Second, func() error {
		_, err := a.Request(testCtx(t, 500*time.Millisecond), "b", []byte("hello"), nil)
		if !errors.Is(err, ErrNodeGone) {
			return fmt.Errorf("Request(closed node) error = %v, want ErrNodeGone", err)
		}
		return nil
	})
}

func testRequestToNodeThatCloses(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	serveRecorder(t, a)
	blocked := newBlocker()
	serve(t, b, blocked.handle)

	done := requestAsync(testCtx(t, 30*time.Second), a, "b", "hello", nil)
	blocked.waitStarted(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if r := await(t, done, 2*time.Second); !errors.Is(r.err, ErrNodeGone) {
		t.Fatalf("Request to a node that closed before it answered = %q, %v; want ErrNodeGone", r.reply, r.err)
	}
}

// testRequestEndsWhenGoneCloses: a request whose caller learns by other
// means that its node died ends with ErrNodeGone then, not at its
// deadline.
func testRequestEndsWhenGoneCloses(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	serveRecorder(t, a)
	blocked := newBlocker()
	serve(t, b, blocked.handle)

	gone := make(chan struct{})
	done := requestAsync(testCtx(t, 30*time.Second), a, "b", "hello", gone)
	blocked.waitStarted(t)
	close(gone)
	if r := await(t, done, 2*time.Second); !errors.Is(r.err, ErrNodeGone) {
		t.Fatalf("Request to a node its caller saw die = %q, %v; want ErrNodeGone", r.reply, r.err)
	}
}

func testRequestHonoursContext(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	serveRecorder(t, a)
	blocked := newBlocker()
	serve(t, b, blocked.handle)

	start := time.Now()
	_, err := a.Request(testCtx(t, 200*time.Millisecond), "b", []byte("hello"), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request past its deadline: error = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Request returned %v after its 200ms deadline", elapsed)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := requestAsync(ctx, a, "b", "hello", nil)
	blocked.waitStarted(t) // the first request's
	blocked.waitStarted(t)
	cancel()
	if r := await(t, done, 2*time.Second); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled Request: error = %v, want context.Canceled", r.err)
	}
}

func testSurveyGathersTheOtherNodes(t *testing.T, join func(string) Broker) {
	a, b, c := join("a"), join("b"), join("c")
	ra := serveRecorder(t, a)
	serveRecorder(t, b)
	serveRecorder(t, c)

	got, err := a.Survey(testCtx(t, 5*time.Second), []byte("count"), []string{"b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"b": "b:a:count", "c": "c:a:count"}
	if len(got) != len(want) {
		t.Errorf("Survey answers %q, want %q", got, want)
	}
	for node, w := range want {
		if string(got[node]) != w {
			t.Errorf("Survey answer of %s = %q, want %q", node, got[node], w)
		}
	}
	if n := ra.calls.Load(); n != 0 {
		t.Errorf("the surveying node handled its own survey %d times", n)
	}
}

func testSurveyReturnsOnceExpectedAnswered(t *testing.T, join func(string) Broker) {
	a, b, c := join("a"), join("b"), join("c")
	serveRecorder(t, a)
	serveRecorder(t, b)
	blocked := newBlocker()
	serve(t, c, blocked.handle)

	start := time.Now()
	got, err := a.Survey(testCtx(t, 10*time.Second), []byte("count"), []string{"b"})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Survey took %v though the one node it expected answered at once", elapsed)
	}
	if string(got["b"]) != "b:a:count" || len(got) != 1 {
		t.Errorf("Survey answers %q, want b's only", got)
	}
}

func testSurveyReturnsAtDeadline(t *testing.T, join func(string) Broker) {
	a, b, c := join("a"), join("b"), join("c")
	serveRecorder(t, a)
	serveRecorder(t, b)
	blocked := newBlocker()
	serve(t, c, blocked.handle)

	const deadline = 300 * time.Millisecond
	start := time.Now()
	got, err := a.Survey(testCtx(t, deadline), []byte("count"), []string{"b", "c"})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Survey past its deadline: error %v, want nil and the answers it has", err)
	}
	if elapsed < deadline || elapsed > deadline+time.Second {
		t.Errorf("Survey returned after %v, want about its %v deadline", elapsed, deadline)
	}
	if string(got["b"]) != "b:a:count" || len(got) != 1 {
		t.Errorf("Survey answers %q, want b's only", got)
	}
}

func testCloseFailsWaitingRequest(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	serveRecorder(t, a)
	blocked := newBlocker()
	serve(t, b, blocked.handle)

	done := requestAsync(testCtx(t, 30*time.Second), a, "b", "hello", nil)
	blocked.waitStarted(t)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if r := await(t, done, 2*time.Second); !errors.Is(r.err, ErrClosed) {
		t.Fatalf("Request waiting when its broker closed: error = %v, want ErrClosed", r.err)
	}
}

func testCloseWaitsForHandlers(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	serveRecorder(t, a)
	started := make(chan struct{})
	var finished atomic.Bool
	serve(t, b, func(ctx context.Context, _ string, _ []byte) []byte {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // work after the broker closed, which Close must wait for
		finished.Store(true)
		return nil
	})

	requestAsync(testCtx(t, 30*time.Second), a, "b", "hello", nil)
	await(t, started, 5*time.Second)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Close returned before the handler it started did")
	}
}

// --- directory ---

func testRegister(t *testing.T, join func(string) Broker) {
	a := join("a")
	ctx := testCtx(t, 5*time.Second)
	first, second := Owner{Node: "a", Session: 1}, Owner{Node: "b", Session: 7}

	mustRegister(t, a, "p1", first, Owner{})
	mustLookup(t, a, "p1", first)
	mustRegister(t, a, "p1", second, first)
	mustLookup(t, a, "p1", second)
	mustLookup(t, a, "nobody", Owner{})
	if _, err := a.Register(ctx, "p2", first); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, join("b"), "p2", first) // every node sees one directory
}

func testUnregisterOnlyByOwner(t *testing.T, join func(string) Broker) {
	a := join("a")
	older, newer := Owner{Node: "a", Session: 1}, Owner{Node: "a", Session: 2}
	mustRegister(t, a, "p1", older, Owner{})
	mustRegister(t, a, "p1", newer, older)

	mustUnregister(t, a, "p1", older) // the stale session's
	mustLookup(t, a, "p1", newer)
	mustUnregister(t, a, "p1", Owner{Node: "b", Session: 2})
	mustLookup(t, a, "p1", newer)
	mustUnregister(t, a, "p1", newer)
	mustLookup(t, a, "p1", Owner{})
	mustUnregister(t, a, "p1", newer) // gone already: harmless
}

func testRestore(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	mine, theirs := Owner{Node: "a", Session: 1}, Owner{Node: "b", Session: 1}
	mustRegister(t, b, "p1", theirs, Owner{})

	if err := a.Restore(testCtx(t, 5*time.Second), map[string]Owner{"p1": mine, "p2": mine}); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, a, "p1", theirs)
	mustLookup(t, a, "p2", mine)
	// Forget finds the agents Restore registered.
	mustForget(t, b, "a")
	mustLookup(t, a, "p2", Owner{})
	mustLookup(t, a, "p1", theirs)
}

func testHeartbeat(t *testing.T, join func(string) Broker) {
	a := join("a")
	started := time.Unix(1_700_000_000, 123_456_789)
	infoB := NodeInfo{ID: "b", Address: "10.0.0.2:8080", Agents: 3, StartedAt: started, LastHeartbeat: started.Add(time.Second)}
	infoA := NodeInfo{ID: "a", Address: "10.0.0.1:8080", Agents: 5, StartedAt: started, LastHeartbeat: started.Add(2 * time.Second)}

	if known := mustHeartbeat(t, a, infoB, time.Minute); known {
		t.Error("first Heartbeat of b: known = true, want false")
	}
	if known := mustHeartbeat(t, a, infoA, time.Minute); known {
		t.Error("first Heartbeat of a: known = true, want false")
	}
	infoA.Agents = 6
	if known := mustHeartbeat(t, a, infoA, time.Minute); !known {
		t.Error("second Heartbeat of a: known = false, want true")
	}
	live, dead := mustNodes(t, a)
	if len(dead) != 0 {
		t.Errorf("dead = %q, want none", dead)
	}
	want := []NodeInfo{infoA, infoB}
	if !slices.EqualFunc(live, want, sameNodeInfo) {
		t.Errorf("live = %+v, want %+v", live, want)
	}
}

// sameNodeInfo compares NodeInfos with time.Time.Equal.
func sameNodeInfo(a, b NodeInfo) bool {
	return a.ID == b.ID && a.Address == b.Address && a.Agents == b.Agents &&
		a.StartedAt.Equal(b.StartedAt) && a.LastHeartbeat.Equal(b.LastHeartbeat)
}

func testExpiredNodeIsDead(t *testing.T, join func(string) Broker) {
	a := join("a")
	mustHeartbeat(t, a, NodeInfo{ID: "a"}, time.Minute)
	mustHeartbeat(t, a, NodeInfo{ID: "c"}, 100*time.Millisecond)

	eventually(t, 5*time.Second, func() error {
		live, dead := mustNodes(t, a)
		if len(live) != 1 || live[0].ID != "a" || !slices.Equal(dead, []string{"c"}) {
			return fmt.Errorf("Nodes = %+v, dead %q; want a live, c dead", live, dead)
		}
		return nil
	})
	if known := mustHeartbeat(t, a, NodeInfo{ID: "c"}, time.Minute); known {
		t.Error("Heartbeat after expiry: known = true, want false")
	}
	if _, dead := mustNodes(t, a); len(dead) != 0 {
		t.Errorf("dead = %q after c beat again, want none", dead)
	}
}

func testForget(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	mustHeartbeat(t, a, NodeInfo{ID: "a"}, time.Minute)
	mustHeartbeat(t, b, NodeInfo{ID: "b"}, time.Minute)
	onA, onA2, onB := Owner{Node: "a", Session: 1}, Owner{Node: "a", Session: 2}, Owner{Node: "b", Session: 1}
	for _, id := range []string{"p1", "p2", "moved", "reconnected"} {
		mustRegister(t, a, id, onA, Owner{})
	}
	mustRegister(t, b, "moved", onB, onA) // to another node
	mustRegister(t, b, "theirs", onB, Owner{})
	// A new session of the same node, then the old session's cleanup.
	mustRegister(t, a, "reconnected", onA2, onA)
	mustUnregister(t, a, "reconnected", onA)

	mustForget(t, b, "a")
	for _, id := range []string{"p1", "p2", "reconnected"} {
		mustLookup(t, b, id, Owner{})
	}
	mustLookup(t, b, "moved", onB)
	mustLookup(t, b, "theirs", onB)
	live, dead := mustNodes(t, b)
	if len(live) != 1 || live[0].ID != "b" || len(dead) != 0 {
		t.Errorf("Nodes after Forget(a) = %+v, dead %q; want b alone", live, dead)
	}
	mustForget(t, b, "a") // twice is harmless
	mustForget(t, a, "a")
}

func mustRegister(t testing.TB, d Directory, agent string, owner, wantPrevious Owner) {
	t.Helper()
	previous, err := d.Register(testCtx(t, 5*time.Second), agent, owner)
	if err != nil {
		t.Fatalf("Register(%s, %v): %v", agent, owner, err)
	}
	if previous != wantPrevious {
		t.Fatalf("Register(%s, %v) previous = %v, want %v", agent, owner, previous, wantPrevious)
	}
}

func mustUnregister(t testing.TB, d Directory, agent string, owner Owner) {
	t.Helper()
	if err := d.Unregister(testCtx(t, 5*time.Second), agent, owner); err != nil {
		t.Fatalf("Unregister(%s, %v): %v", agent, owner, err)
	}
}

func mustLookup(t testing.TB, d Directory, agent string, want Owner) {
	t.Helper()
	got, err := d.Lookup(testCtx(t, 5*time.Second), agent)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", agent, err)
	}
	if got != want {
		t.Fatalf("Lookup(%s) = %v, want %v", agent, got, want)
	}
}

func mustForget(t testing.TB, d Directory, node string) {
	t.Helper()
	if err := d.Forget(testCtx(t, 5*time.Second), node); err != nil {
		t.Fatalf("Forget(%s): %v", node, err)
	}
}

func mustHeartbeat(t testing.TB, d Directory, info NodeInfo, ttl time.Duration) (known bool) {
	t.Helper()
	known, err := d.Heartbeat(testCtx(t, 5*time.Second), info, ttl)
	if err != nil {
		t.Fatalf("Heartbeat(%s): %v", info.ID, err)
	}
	return known
}

func mustNodes(t testing.TB, d Directory) (live []NodeInfo, dead []string) {
	t.Helper()
	live, dead, err := d.Nodes(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	return live, dead
}

// --- stream ---

// numbered returns n message events whose MessageIDs count from first.
func numbered(first, n int) []events.Event {
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = events.Event{Type: events.Message, Agent: "p1", Node: "a", Time: time.Now(), MessageID: fmt.Sprint(first + i)}
	}
	return evs
}

func mustAppend(t testing.TB, s Stream, evs []events.Event) {
	t.Helper()
	if err := s.Append(testCtx(t, 5*time.Second), evs); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func mustRead(t testing.TB, s Stream, after events.ID, count int) []Entry {
	t.Helper()
	entries, err := s.Read(testCtx(t, 5*time.Second), after, count)
	if err != nil {
		t.Fatalf("Read(%v, %d): %v", after, count, err)
	}
	return entries
}

func mustNewest(t testing.TB, s Stream, count int) []Entry {
	t.Helper()
	entries, err := s.Newest(testCtx(t, 5*time.Second), count)
	if err != nil {
		t.Fatalf("Newest(%d): %v", count, err)
	}
	return entries
}

// checkEntries checks that entries are the events numbered from first
// on, in order, with increasing ids.
func checkEntries(t testing.TB, entries []Entry, first, n int) {
	t.Helper()
	var got []string
	for _, e := range entries {
		got = append(got, e.Event.MessageID)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprint(first+i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %q, want %q", got, want)
	}
	for i := 1; i < len(entries); i++ {
		if !entries[i-1].ID.Less(entries[i].ID) {
			t.Fatalf("entry ids out of order: %v then %v", entries[i-1].ID, entries[i].ID)
		}
	}
}

func testStreamOrder(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	mustAppend(t, a, numbered(0, 5))
	mustAppend(t, b, numbered(5, 3)) // one stream for the cluster

	all := mustRead(t, a, events.ID{}, 100)
	checkEntries(t, all, 0, 8)
	checkEntries(t, mustRead(t, b, all[2].ID, 100), 3, 5)
	checkEntries(t, mustRead(t, b, all[2].ID, 2), 3, 2)
	checkEntries(t, mustRead(t, a, events.ID{}, 3), 0, 3)
}

func testReadWaitsForAppend(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	mustAppend(t, a, numbered(0, 2))
	last := mustNewest(t, a, 1)[0].ID

	done := readAsync(testCtx(t, 10*time.Second), b, last)
	select {
	case r := <-done:
		t.Fatalf("Read after the newest entry returned %+v, %v before anything was appended", r.entries, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	mustAppend(t, a, numbered(2, 1))
	r := await(t, done, 5*time.Second)
	if r.err != nil {
		t.Fatalf("Read: %v", r.err)
	}
	checkEntries(t, r.entries, 2, 1)
}

// readResult is what a Read returned.
type readResult struct {
	entries []Entry
	err     error
}

// readAsync runs s.Read(ctx, after, 10) on a goroutine and returns where
// its result arrives. The goroutine ends with ctx.
func readAsync(ctx context.Context, s Stream, after events.ID) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		entries, err := s.Read(ctx, after, 10)
		done <- readResult{entries, err}
	}()
	return done
}

func testReadEndsWithContext(t *testing.T, join func(string) Broker) {
	a := join("a")
	ctx, cancel := context.WithCancel(t.Context())
	done := readAsync(ctx, a, events.ID{}) // the stream is empty
	cancel()
	if r := await(t, done, 2*time.Second); !errors.Is(r.err, context.Canceled) || r.entries != nil {
		t.Fatalf("cancelled Read = %+v, %v; want nil, context.Canceled", r.entries, r.err)
	}

	start := time.Now()
	_, err := a.Read(testCtx(t, 200*time.Millisecond), events.ID{}, 10)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read past its deadline: error = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Read returned %v after its 200ms deadline", elapsed)
	}
}

func testNewest(t *testing.T, join func(string) Broker) {
	a := join("a")
	if entries := mustNewest(t, a, 10); len(entries) != 0 {
		t.Fatalf("Newest of an empty stream = %+v, want none", entries)
	}
	mustAppend(t, a, numbered(0, 10))
	checkEntries(t, mustNewest(t, a, 3), 7, 3)
	checkEntries(t, mustNewest(t, a, 100), 0, 10)
}

func testEventRoundTrip(t *testing.T, join func(string) Broker) {
	a, b := join("a"), join("b")
	at := time.Date(2026, 11, 25, 3, 4, 5, 123_456_789, time.FixedZone("CET", 3600))
	want := []events.Event{
		{Type: events.Message, Agent: "p-1", Node: "a", Time: at, Groups: []string{"red", "blue"},
			MessageType: "Chat", MessageID: "m-7", Data: codec.Payload{JSON: []byte(`{"text":"héllo","n":[1,2.5,null]}`)}},
		{Type: events.Message, Agent: "p-1", Node: "a", Time: at.Add(time.Nanosecond),
			MessageType: "Blob", Data: codec.Payload{Bytes: []byte{0, 1, 2, 0xff}}},
		{Type: events.Disconnected, Agent: "p-2", Node: "a", Time: at.Add(time.Second), Reason: "kicked: by admin"},
	}
	mustAppend(t, a, want)

	entries := mustRead(t, b, events.ID{}, 10)
	if len(entries) != len(want) {
		t.Fatalf("read %d entries, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		if !sameEvent(e.Event, want[i]) {
			t.Errorf("entry %d = %+v, want %+v", i, e.Event, want[i])
		}
	}
}

// sameEvent compares every field of two events, times with Equal.
func sameEvent(a, b events.Event) bool {
	return a.Type == b.Type && a.Agent == b.Agent && a.Node == b.Node && a.Time.Equal(b.Time) &&
		slices.Equal(a.Groups, b.Groups) && a.Reason == b.Reason &&
		a.MessageType == b.MessageType && a.MessageID == b.MessageID &&
		bytes.Equal(a.Data.JSON, b.Data.JSON) && bytes.Equal(a.Data.Bytes, b.Data.Bytes)
}

func testRetention(t *testing.T, newCluster newClusterFunc, trimSlack int) {
	const retention, appended = 20, 1000
	a := newCluster(t, retention)("a")
	for i := 0; i < appended; i += 50 {
		mustAppend(t, a, numbered(i, 50))
	}

	kept := mustNewest(t, a, 10*appended)
	if n := len(kept); n < retention || n > retention+trimSlack {
		t.Fatalf("the stream keeps %d entries, want %d to %d", n, retention, retention+trimSlack)
	}
	checkEntries(t, kept, appended-len(kept), len(kept)) // the newest ones
	checkEntries(t, mustRead(t, a, events.ID{}, 10*appended), appended-len(kept), len(kept))
}
