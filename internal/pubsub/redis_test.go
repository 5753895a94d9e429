package pubsub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/events"
	"github.com/hotpot-rt/hotpot/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// unavailableWithin is how soon a cross-node operation must fail when
// Redis is gone.
const unavailableWithin = 2 * time.Second

// redisPair returns two ready brokers, a and b, of one cluster on srv;
// a answers with a recorder, b with h, or a recorder when h is nil.
func redisPair(t testing.TB, srv *redistest.Server, h Handler) (a, b Broker) {
	t.Helper()
	a = newRedis(t, srv.URL(), "hotpot-test", "a", conformanceRetention)
	b = newRedis(t, srv.URL(), "hotpot-test", "b", conformanceRetention)
	serveRecorder(t, a)
	if h == nil {
		h = (&recorder{node: "b"}).handle
	}
	serve(t, b, h)
	return a, b
}

// ping sends a request from from to node, whose recorder must answer
// within d.
func ping(t testing.TB, from Broker, node string, d time.Duration) error {
	want := node + ":" + from.Node() + ":ping"
	reply, err := from.Request(testCtx(t, d), node, []byte("ping"), nil)
	if err != nil || string(reply) != want {
		return fmt.Errorf("%s: Request(%s) = %q, %v; want %q", from.Node(), node, reply, err, want)
	}
	return nil
}

// mustRequest checks that a request from from reaches node and comes back.
func mustRequest(t testing.TB, from Broker, node string) {
	t.Helper()
	if err := ping(t, from, node, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// checkUnavailable checks that err wraps ErrUnavailable and came within
// unavailableWithin of start.
func checkUnavailable(t testing.TB, what string, start time.Time, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("%s with Redis gone: error = %v, want ErrUnavailable", what, err)
	}
	if elapsed := time.Since(start); elapsed > unavailableWithin {
		t.Errorf("%s with Redis gone failed after %v, want within %v", what, elapsed, unavailableWithin)
	}
}

// notReady returns an error unless every broker's Ready fails with
// ErrUnavailable.
func notReady(t testing.TB, brokers ...Broker) error {
	for _, b := range brokers {
		if err := b.Ready(testCtx(t, time.Second)); !errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("%s: Ready = %v, want ErrUnavailable", b.Node(), err)
		}
	}
	return nil
}

// requestsWork returns an error unless a and b are ready and reach each
// other.
func requestsWork(t testing.TB, a, b Broker) error {
	for _, pair := range [][2]Broker{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		if err := from.Ready(testCtx(t, time.Second)); err != nil {
			return fmt.Errorf("%s: %w", from.Node(), err)
		}
		if err := ping(t, from, to.Node(), time.Second); err != nil {
			return err
		}
	}
	return nil
}

// TestRedisKilled checks that with Redis gone, what needs it fails fast
// with ErrUnavailable rather than waiting for the caller's deadline.
func TestRedisKilled(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, _ := redisPair(t, srv, nil)
	mustRequest(t, a, "b")

	srv.Kill()
	start := time.Now()
	_, err := a.Request(testCtx(t, 10*time.Second), "b", []byte("ping"), nil)
	checkUnavailable(t, "Request", start, err)

	start = time.Now()
	_, err = a.Survey(testCtx(t, 10*time.Second), []byte("ping"), []string{"b"})
	checkUnavailable(t, "Survey", start, err)

	start = time.Now()
	err = a.Ready(testCtx(t, 10*time.Second))
	checkUnavailable(t, "Ready", start, err)

	start = time.Now()
	_, err = a.Lookup(testCtx(t, 10*time.Second), "p1")
	checkUnavailable(t, "Lookup", start, err)
}

// TestRedisKilledWhileRequestWaits checks that a request whose answer
// can no longer come fails with ErrUnavailable when the broker loses
// Redis, not at its deadline.
func TestRedisKilledWhileRequestWaits(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	blocked := newBlocker()
	a, _ := redisPair(t, srv, blocked.handle)

	done := requestAsync(testCtx(t, 30*time.Second), a, "b", "hello", nil)
	blocked.waitStarted(t)
	srv.Kill()
	start := time.Now()
	r := await(t, done, 10*time.Second)
	checkUnavailable(t, "a waiting Request", start, r.err)
}

// TestRedisRestartedEmpty checks that brokers subscribe again by
// themselves when Redis comes back, and that a heartbeat says the
// directory forgot the node.
func TestRedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := redisPair(t, srv, nil)
	mustRequest(t, a, "b")
	info := NodeInfo{ID: "a"}
	mustHeartbeat(t, a, info, time.Minute)
	if known := mustHeartbeat(t, a, info, time.Minute); !known {
		t.Fatal("second Heartbeat: known = false")
	}

	srv.Kill()
	eventually(t, unavailableWithin, func() error { return notReady(t, a, b) })
	srv.Restart()
	// Both brokers subscribe again by themselves.
	eventually(t, 10*time.Second, func() error { return requestsWork(t, a, b) })
	if known := mustHeartbeat(t, a, info, time.Minute); known {
		t.Error("Heartbeat after Redis lost its data: known = true, want false")
	}
}

// joinRedisCluster returns the broker of node in the cluster under
// prefix hotpot-test on the Redis Cluster c.
func joinRedisCluster(t testing.TB, c *redistest.Cluster, node string) Broker {
	t.Helper()
	return startRedis(t, RedisOptions{URL: c.URL(), Cluster: true, Prefix: "hotpot-test", Node: node, Retention: 100})
}

// redisClusterPair returns two brokers, a and b, of one cluster on the
// Redis Cluster c, answering with recorders, once they reach each other.
func redisClusterPair(t testing.TB, c *redistest.Cluster) (a, b Broker) {
	t.Helper()
	a, b = joinRedisCluster(t, c, "a"), joinRedisCluster(t, c, "b")
	serveRecorder(t, a)
	serveRecorder(t, b)
	eventually(t, 10*time.Second, func() error { return requestsWork(t, a, b) })
	return a, b
}

// TestRedisClusterMasterRestarted: a master of a Redis Cluster that
// serves none of a node's channels, nor its heartbeat, still holds some
// of its agents. While it is down the node is not ready; once it is back,
// empty, the next heartbeat says the node unknown, so that it registers
// its agents again, and the one after says it known.
func TestRedisClusterMasterRestarted(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	b := joinRedisCluster(t, cluster, "b")
	serveRecorder(t, b)
	keys := newKeys("hotpot-test", 0)
	uninvolved := slices.DeleteFunc(slices.Clone(cluster.Servers), func(s *redistest.Server) bool {
		return slices.Contains([]*redistest.Server{
			cluster.ServerOf(t, keys.nodeChannel("b")),
			cluster.ServerOf(t, keys.allChannel()),
			cluster.ServerOf(t, keys.node("b")),
		}, s)
	})
	if len(uninvolved) == 0 {
		t.Fatal("every master serves one of b's channels or its heartbeat; name the node otherwise")
	}
	info := NodeInfo{ID: "b"}
	eventually(t, 10*time.Second, func() error { return b.Ready(testCtx(t, time.Second)) })
	mustHeartbeat(t, b, info, time.Minute)
	if known := mustHeartbeat(t, b, info, time.Minute); !known {
		t.Fatal("second Heartbeat: known = false")
	}

	uninvolved[0].Kill()
	eventually(t, time.Second, func() error { return notReady(t, b) })
	for range 10 { // every time, not when a PING happens to go there
		if err := notReady(t, b); err != nil {
			t.Fatal(err)
		}
	}
	uninvolved[0].Restart()
	var known bool
	eventually(t, 10*time.Second, func() (err error) {
		known, err = b.Heartbeat(testCtx(t, time.Second), info, time.Minute)
		return err
	})
	if known {
		t.Error("the first Heartbeat after a master restarted: known = true, want false")
	}
	if known := mustHeartbeat(t, b, info, time.Minute); !known {
		t.Error("the Heartbeat after: known = false, want true")
	}
}

// TestRedisClusterSlotMoved: when a resharding moves the hash slot of a
// node's channel to another master, the node subscribes there by itself
// and requests reach it again within a few seconds; so does a node whose
// first subscription goes to the slot's former master.
func TestRedisClusterSlotMoved(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	a, b := redisClusterPair(t, cluster)

	moveAway := func(node string) {
		channel := newKeys("hotpot-test", 0).nodeChannel(node)
		to := cluster.Servers[0]
		if to == cluster.ServerOf(t, channel) {
			to = cluster.Servers[1]
		}
		cluster.MoveSlot(t, channel, to)
	}
	moveAway("b")
	eventually(t, 5*time.Second, func() error { return requestsWork(t, a, b) })

	// c learns the slots, which then move before it subscribes: the
	// master it asks first answers MOVED.
	c := joinRedisCluster(t, cluster, "c")
	if _, err := c.Lookup(testCtx(t, 5*time.Second), "p"); err != nil {
		t.Fatal(err)
	}
	moveAway("c")
	serveRecorder(t, c)
	eventually(t, 5*time.Second, func() error { return requestsWork(t, a, c) })
}

// TestRedisClusterFailover: when the master that serves a node's channel
// dies and the cluster promotes its replica, the node subscribes to the
// replica by itself, and its next heartbeat says it unknown: the replica
// may lack the master's last writes, so the node registers its agents
// again.
func TestRedisClusterFailover(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	master := cluster.ServerOf(t, newKeys("hotpot-test", 0).nodeChannel("a"))
	cluster.AddReplica(t, master)
	a, b := redisClusterPair(t, cluster)
	info := NodeInfo{ID: "a"}
	mustHeartbeat(t, a, info, time.Minute)
	mustHeartbeat(t, a, info, time.Minute)

	master.Kill()
	// The cluster takes 3-4 s to promote the replica (a 2 s node
	// timeout, then an election); the brokers follow within a few more.
	eventually(t, 15*time.Second, func() error { return requestsWork(t, a, b) })
	if known := mustHeartbeat(t, a, info, time.Minute); known {
		t.Error("the first Heartbeat after a failover: known = true, want false")
	}
}

// frozenWithin is how soon a request must fail when Redis takes its
// commands but answers none.
const frozenWithin = 4 * time.Second

// TestRedisFrozen checks that a broker whose connections stay open to a
// Redis that stopped answering gives up on it, and subscribes again by
// itself once Redis answers.
func TestRedisFrozen(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := redisPair(t, srv, nil)
	mustRequest(t, a, "b")

	srv.Stop()
	// One request's PUBLISH hangs; those that queue behind it meanwhile
	// fail with it, not one PUBLISH timeout after another.
	failed := make(chan time.Time, 11)
	request := func() {
		start := time.Now()
		_, err := a.Request(testCtx(t, 10*time.Second), "b", []byte("ping"), nil)
		failed <- time.Now()
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("Request with Redis frozen: error = %v, want ErrUnavailable", err)
		}
		// Two attempts of redisIOTimeout each, and go-redis's backoff.
		if elapsed := time.Since(start); elapsed > frozenWithin {
			t.Errorf("Request with Redis frozen failed after %v, want within %v", elapsed, frozenWithin)
		}
	}
	var wg sync.WaitGroup
	wg.Go(request)
	// The first PUBLISH is on the wire once the sender has taken its
	// batch: b's outbox is there, with nothing queued.
	r, channel := redisOf(a), redisOf(a).keys.nodeChannel("b")
	eventually(t, 5*time.Second, func() error {
		r.outMu.Lock()
		defer r.outMu.Unlock()
		if o := r.outboxes[channel]; o == nil || len(o.queue) > 0 {
			return errors.New("the first request's PUBLISH has not left")
		}
		return nil
	})
	for range 10 {
		wg.Go(request)
	}
	wg.Wait()
	close(failed)
	first, last := <-failed, time.Time{}
	for at := range failed {
		last = at
	}
	if gap := last.Sub(first); gap > 500*time.Millisecond {
		t.Errorf("requests queued behind a hung PUBLISH failed %v after it, want with it", gap)
	}
	eventually(t, 10*time.Second, func() error { return notReady(t, a, b) })

	srv.Cont()
	eventually(t, 10*time.Second, func() error { return requestsWork(t, a, b) })
}

// TestRedisPassword checks that the password in the URL is used, and
// that without it nothing works.
func TestRedisPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithPassword("s3cr#t/pw"))
	a, _ := redisPair(t, srv, nil) // the password is in srv.URL()
	mustRequest(t, a, "b")

	anonymous := newRedis(t, "redis://"+srv.Addr()+"/0", "hotpot-test", "c", conformanceRetention)
	anonymous.Serve((&recorder{node: "c"}).handle)
	if err := anonymous.Ready(testCtx(t, 5*time.Second)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ready without the password: error = %v, want ErrUnavailable", err)
	}
	if _, err := anonymous.Lookup(testCtx(t, 5*time.Second), "p1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Lookup without the password: error = %v, want ErrUnavailable", err)
	}
}

// TestRedisPrefixesKeepClustersApart: two clusters on one Redis, under
// different prefixes, see neither each other's nodes nor agents nor
// messages.
func TestRedisPrefixesKeepClustersApart(t *testing.T) {
	srv := redistest.Start(t)
	ctx := testCtx(t, 5*time.Second)
	one := newRedis(t, srv.URL(), "one", "a", 100)
	two := newRedis(t, srv.URL(), "two", "a", 100) // the same node id, in another cluster
	for _, b := range []Broker{one, two} {
		b.Serve(func(context.Context, string, []byte) []byte { return []byte("pong") })
		if _, err := b.Heartbeat(ctx, NodeInfo{ID: b.Node()}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := one.Register(ctx, "p", Owner{Node: "a", Session: 1}); err != nil {
		t.Fatal(err)
	}
	if owner, err := two.Lookup(ctx, "p"); err != nil || !owner.IsZero() {
		t.Fatalf("cluster two sees cluster one's agent: %+v, %v", owner, err)
	}
	if err := two.Forget(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if owner, _ := one.Lookup(ctx, "p"); owner.Node != "a" {
		t.Fatalf("forgetting node a in cluster two forgot cluster one's agent: %+v", owner)
	}
	if live, _, err := one.Nodes(ctx); err != nil || len(live) != 1 {
		t.Fatalf("cluster one's nodes: %+v, %v", live, err)
	}
	if err := one.Append(ctx, []events.Event{{Type: events.Connected, Agent: "p", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if got, err := two.Newest(ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("cluster two's stream holds %d events of cluster one, %v", len(got), err)
	}
}

// TestRedisStreamBoundedInBytes: Redis trims streams by count only, so
// the broker trims by id the entries that its reads saw leave the byte
// budget; big events then hold about RetentionBytes, not Retention of them.
func TestRedisStreamBoundedInBytes(t *testing.T) {
	srv := redistest.Start(t)
	big := events.Event{Type: events.Message, Time: time.Now(), Data: codec.Payload{JSON: []byte(`"` + strings.Repeat("x", 4<<10) + `"`)}}
	const budget = 64 << 10 // about 16 of them
	r, err := NewRedis(RedisOptions{URL: srv.URL(), Prefix: "bytes", Node: "a", Retention: 100000, RetentionBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	b := closeAtEnd(t, r)
	var after events.ID
	for range 200 {
		if err := b.Append(t.Context(), []events.Event{big}); err != nil {
			t.Fatal(err)
		}
		entries, err := b.Read(t.Context(), after, 1024) // as the node's tailer does
		if err != nil {
			t.Fatal(err)
		}
		after = entries[len(entries)-1].ID
	}
	kept, err := b.Newest(t.Context(), 100000)
	if err != nil {
		t.Fatal(err)
	}
	// Trimming waits until an eighth of the budget has left the window,
	// and "~" trims whole nodes of the stream: allow both.
	if n, most := len(kept), budget/(4<<10)*9/8+8; n < budget/(4<<10)-1 || n > most {
		t.Fatalf("the stream keeps %d events of 4 KiB, want about %d (at most %d)", n, budget/(4<<10), most)
	}
}

// TestRedisClusterURLDatabase: a Redis Cluster has database 0 alone; a
// URL naming another is refused, before anything is dialled.
func TestRedisClusterURLDatabase(t *testing.T) {
	for url, ok := range map[string]bool{
		"redis://127.0.0.1:7000?addr=127.0.0.1:7001": true,
		"redis://127.0.0.1:7000/0":                   true,
		"redis://127.0.0.1:7000/3":                   false,
	} {
		r, err := NewRedis(RedisOptions{URL: url, Cluster: true, Prefix: "hotpot-test", Node: "a"})
		if ok != (err == nil) {
			t.Errorf("%s: error %v, want it accepted %v", url, err, ok)
		}
		if err == nil {
			r.Close()
		} else if !strings.Contains(err.Error(), "database 0") {
			t.Errorf("%s: error %q does not say a Redis Cluster has database 0 alone", url, err)
		}
	}
}

// TestRedisClusterMasterGone: a request through the master that serves
// a node's channel fails with ErrUnavailable soon after that master dies
// (within 2 s) or stops answering (within frozenWithin), the node is not
// ready meanwhile, and the brokers reach each other again by themselves
// once the master is back.
func TestRedisClusterMasterGone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		within     time.Duration
		gone, back func(*redistest.Server)
	}{
		{"killed", unavailableWithin, (*redistest.Server).Kill, (*redistest.Server).Restart},
		{"frozen", frozenWithin, (*redistest.Server).Stop, (*redistest.Server).Cont},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cluster := redistest.StartCluster(t, 3)
			a, b := redisClusterPair(t, cluster)
			master := cluster.ServerOf(t, newKeys("hotpot-test", 0).nodeChannel("a"))
			tc.gone(master)
			start := time.Now()
			_, err := b.Request(testCtx(t, 10*time.Second), "a", []byte("ping"), nil)
			if !errors.Is(err, ErrUnavailable) || time.Since(start) > tc.within {
				t.Errorf("Request through the master: %v after %v, want ErrUnavailable within %v", err, time.Since(start), tc.within)
			}
			eventually(t, tc.within, func() error { return notReady(t, a) })
			tc.back(master)
			eventually(t, 10*time.Second, func() error { return requestsWork(t, a, b) })
		})
	}
}

// TestRedisClusterWithoutClusterFlag: a broker that takes a Redis
// Cluster node for a lone server gets MOVED for most keys; it is not
// ready, and says once, in its log and its readiness, to start with
// --redis-cluster.
func TestRedisClusterWithoutClusterFlag(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	var logs bytes.Buffer
	r, err := NewRedis(RedisOptions{URL: cluster.Servers[0].URL(), Prefix: "hotpot-test", Node: "a", Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// Agents whose keys are spread over the three masters.
	for _, id := range []string{"p1", "p2", "p3", "p4", "p5", "p6"} {
		r.Register(testCtx(t, 5*time.Second), id, Owner{Node: "a", Session: 1})
	}
	if err := r.Ready(testCtx(t, 5*time.Second)); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "--redis-cluster") {
		t.Errorf("Ready = %v, want ErrUnavailable saying to start with --redis-cluster", err)
	}
	r.Close()
	if n := strings.Count(logs.String(), "start the node with --redis-cluster"); n != 1 {
		t.Errorf("the advice is logged %d times, want once:\n%s", n, logs.String())
	}
}
