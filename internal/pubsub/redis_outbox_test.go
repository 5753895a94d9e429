package pubsub

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/redistest"
)

// redisOf returns the Redis broker that newRedis wrapped in b.
func redisOf(b Broker) *Redis { return b.(*closeOnce).Broker.(*Redis) }

// publishes returns how many PUBLISH commands r's Redis server has run.
func publishes(t testing.TB, r *Redis) int {
	t.Helper()
	stats, err := r.client.Info(testCtx(t, 5*time.Second), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(stats) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_publish:calls="); ok {
			calls, _, _ := strings.Cut(rest, ",")
			n, err := strconv.Atoi(calls)
			if err != nil {
				t.Fatalf("INFO commandstats: %q: %v", line, err)
			}
			return n
		}
	}
	return 0 // no PUBLISH yet
}

// TestRedisMessagesThatMeetShareAPublish: requests sent at once, and
// their answers, travel several to a PUBLISH.
func TestRedisMessagesThatMeetShareAPublish(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, _ := redisPair(t, srv, nil)
	before := publishes(t, redisOf(a))
	const requests = 500
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			if err := ping(t, a, "b", 10*time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Each request is two messages, itself and its answer.
	n := publishes(t, redisOf(a)) - before
	if n > requests/2 {
		t.Errorf("%d requests sent at once took %d PUBLISHes, want at most %d", requests, n, requests/2)
	}
}

// TestRedisLoneMessageLeavesAtOnce: a message that meets no other is
// published as it comes, not held back for company.
func TestRedisLoneMessageLeavesAtOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, _ := redisPair(t, srv, nil)
	const requests = 100
	took := make([]time.Duration, requests)
	for i := range took {
		start := time.Now()
		mustRequest(t, a, "b")
		took[i] = time.Since(start)
	}
	// A round trip on loopback takes well under a millisecond. A message
	// held back for company would hold up every one of them; a busy
	// machine holds up a few, which the median leaves out.
	slices.Sort(took)
	if median, most := took[requests/2], 10*time.Millisecond; median > most {
		t.Errorf("the median of %d requests one after another took %v, want at most %v", requests, median, most)
	}
}

// TestRedisOutboxGoesWhenEmpty: once its messages are out, a channel's
// outbox is gone, so that the channels of nodes gone for good keep
// nothing.
func TestRedisOutboxGoesWhenEmpty(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := redisPair(t, srv, nil)
	mustRequest(t, a, "b")
	for _, r := range []*Redis{redisOf(a), redisOf(b)} {
		eventually(t, time.Second, func() error {
			r.outMu.Lock()
			defer r.outMu.Unlock()
			if len(r.outboxes) > 0 {
				return fmt.Errorf("%s keeps the outboxes of %v", r.node, slices.Collect(maps.Keys(r.outboxes)))
			}
			return nil
		})
	}
}

// TestRedisClose: Close ends the idle senders rather than wait for them
// to time out, and closing again does not panic.
func TestRedisClose(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r, err := NewRedis(RedisOptions{URL: srv.URL(), Prefix: "close", Node: "a", Retention: 100})
	if err != nil {
		t.Fatal(err)
	}
	serveRecorder(t, r)
	serveRecorder(t, newRedis(t, srv.URL(), "close", "b", 100))
	mustRequest(t, r, "b") // leaves a's and b's senders idle
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > workerIdle/2 {
		t.Errorf("Close took %v: it waited for idle senders", d)
	}
	r.Close() // go-redis reports its client closed already
}

// BenchmarkRedisRequest measures requests of 1 KiB, and their answers,
// that many callers send at once from one node to another over a Redis
// server of its own.
func BenchmarkRedisRequest(b *testing.B) {
	srv := redistest.Start(b)
	a, _ := redisPair(b, srv, nil)
	msg := bytes.Repeat([]byte("x"), 1<<10)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Request(b.Context(), "b", msg, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestOutboxBatchBounds: a message joins the last batch while that has
// room for it, in messages and in bytes; one bigger than a batch goes
// alone.
func TestOutboxBatchBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bodies []int // the length of each message's body, in order
		want   []int // how many messages each batch holds, in order
	}{
		{"one", []int{10}, []int{1}},
		{"by count", slices.Repeat([]int{10}, maxBatchMessages+1), []int{maxBatchMessages, 1}},
		{"by bytes", []int{100 << 10, 100 << 10, 100 << 10}, []int{2, 1}},
		{"too big", []int{10, maxBatchBytes + 1, 10}, []int{1, 1, 1}},
	} {
		o := &outbox{}
		for _, n := range tc.bodies {
			o.add(envelope{kind: kindRequest, seq: 1, from: "a", body: make([]byte, n)})
		}
		var got []int
		for _, b := range o.queue {
			got = append(got, len(b.msgs))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: batches of %v messages, want %v", tc.name, got, tc.want)
		}
	}
}
