package keepalive

import (
	"context"
	"sync"
	"testing"
	"time"
	"unsafe"
)

const (
	testInterval = 10 * time.Second
	testLimit    = 30 * time.Second
)

// base is the fixed "now" of the table tests.
var base = time.Unix(1_700_000_000, 123)

func TestSweep(t *testing.T) {
	tests := []struct {
		name         string
		idle         time.Duration
		removeBefore bool // Remove before the first sweep
		removeInCall bool // Remove from inside Ping or Expire
		wantPings    int64
		wantExpires  int64
		wantLen      int   // after the first sweep
		wantPings2   int64 // after a second sweep at the same now
	}{
		{name: "fresh", idle: 0, wantLen: 1},
		{name: "idle below interval", idle: testInterval - time.Nanosecond, wantLen: 1},
		{name: "idle exactly interval", idle: testInterval, wantLen: 1},
		{name: "idle past interval", idle: testInterval + time.Nanosecond, wantPings: 1, wantLen: 1, wantPings2: 2},
		{name: "idle exactly limit", idle: testLimit, wantPings: 1, wantLen: 1, wantPings2: 2},
		{name: "idle past limit", idle: testLimit + time.Nanosecond, wantExpires: 1},
		{name: "long gone", idle: time.Hour, wantExpires: 1},
		{name: "removed, would ping", idle: testInterval + time.Second, removeBefore: true},
		{name: "removed, would expire", idle: time.Hour, removeBefore: true},
		{name: "remove inside Ping", idle: testInterval + time.Second, removeInCall: true, wantPings: 1, wantPings2: 1},
		{name: "remove inside Expire", idle: time.Hour, removeInCall: true, wantExpires: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(testInterval, testLimit)
			last := base.Add(-tc.idle)
			f := newFake(last)
			if tc.removeInCall {
				f.onPing = func() { m.Remove(f) }
				f.onExpire = func() { m.Remove(f) }
			}
			m.Add(f)
			if tc.removeBefore {
				m.Remove(f)
			}

			sweepWithin(t, m, base)
			if got := f.pings.Load(); got != tc.wantPings {
				t.Errorf("pings = %d, want %d", got, tc.wantPings)
			}
			if got := f.expires.Load(); got != tc.wantExpires {
				t.Errorf("expires = %d, want %d", got, tc.wantExpires)
			}
			if tc.wantExpires > 0 && !f.lastExpire().Equal(last) {
				t.Errorf("Expire(%v), want Expire(%v)", f.lastExpire(), last)
			}
			if got := m.Len(); got != tc.wantLen {
				t.Errorf("Len = %d, want %d", got, tc.wantLen)
			}

			sweepWithin(t, m, base)
			if got := f.pings.Load(); got != tc.wantPings2 {
				t.Errorf("after second sweep: pings = %d, want %d", got, tc.wantPings2)
			}
			if got := f.expires.Load(); got != tc.wantExpires {
				t.Errorf("after second sweep: expires = %d, want %d", got, tc.wantExpires)
			}
		})
	}
}

// TestSweepManyShards checks the rules hold across all shards at once and
// that Add is idempotent.
func TestSweepManyShards(t *testing.T) {
	m := New(testInterval, testLimit)
	idles := []time.Duration{0, testInterval + time.Second, time.Hour}
	var targets []*fakeTarget
	for i := range 3000 {
		f := newFake(base.Add(-idles[i%len(idles)]))
		targets = append(targets, f)
		m.Add(f)
		m.Add(f)
	}
	if got := m.Len(); got != len(targets) {
		t.Fatalf("Len = %d, want %d", got, len(targets))
	}
	m.Sweep(base)
	for i, f := range targets {
		wantPing, wantExpire := int64(0), int64(0)
		switch i % len(idles) {
		case 1:
			wantPing = 1
		case 2:
			wantExpire = 1
		}
		if f.pings.Load() != wantPing || f.expires.Load() != wantExpire {
			t.Fatalf("target %d: pings %d expires %d, want %d %d",
				i, f.pings.Load(), f.expires.Load(), wantPing, wantExpire)
		}
	}
	if got, want := m.Len(), 2*len(targets)/3; got != want {
		t.Errorf("Len after sweep = %d, want %d", got, want)
	}
}

// TestRun checks that Run sweeps on its ticker and returns once ctx is
// cancelled.
func TestRun(t *testing.T) {
	m := New(20*time.Millisecond, 50*time.Millisecond)
	expired := make(chan struct{})
	f := newFake(time.Now().Add(-time.Minute))
	f.onExpire = func() { close(expired) }
	m.Add(f)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	select {
	case <-expired:
	case <-time.After(5 * time.Second):
		t.Error("Run did not sweep within 5s")
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
}

// TestConcurrent adds and removes from many goroutines while sweeps run,
// with callbacks that Remove, for the race detector; every target must be
// expired at most once.
func TestConcurrent(t *testing.T) {
	m := New(testInterval, testLimit)
	now := time.Now()
	const workers, perWorker = 32, 200
	idles := []time.Duration{0, testInterval + time.Second, time.Hour}

	stop := make(chan struct{})
	var sweeps sync.WaitGroup
	for range 2 {
		sweeps.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					m.Sweep(now)
				}
			}
		})
	}

	all := make([][]*fakeTarget, workers)
	var adders sync.WaitGroup
	for w := range workers {
		adders.Go(func() {
			for i := range perWorker {
				f := newFake(now.Add(-idles[(w+i)%len(idles)]))
				f.onPing = func() { m.Remove(f) }
				all[w] = append(all[w], f)
				m.Add(f)
				if i%2 == 0 {
					m.Remove(f)
				}
			}
			for _, f := range all[w] {
				m.Remove(f)
			}
		})
	}
	adders.Wait()
	close(stop)
	sweeps.Wait()

	if got := m.Len(); got != 0 {
		t.Errorf("Len = %d after every target was removed, want 0", got)
	}
	for _, fs := range all {
		for _, f := range fs {
			if n := f.expires.Load(); n > 1 {
				t.Fatalf("target expired %d times, want at most 1", n)
			}
		}
	}
}

// TestShardSize pins the padding that keeps each shard's lock and map on a
// cache line of its own.
func TestShardSize(t *testing.T) {
	if got := unsafe.Sizeof(shard{}); got != 64 {
		t.Errorf("sizeof(shard) = %d, want 64", got)
	}
}

// BenchmarkSweep100k sweeps 100,000 fresh targets: no callbacks, only the
// scan. ns/op is per sweep.
func BenchmarkSweep100k(b *testing.B) {
	const n = 100_000
	now := time.Now()
	m := New(25*time.Second, 75*time.Second)
	for range n {
		m.Add(newFake(now))
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Sweep(now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/target")
	if m.Len() != n {
		b.Fatalf("Len = %d, want %d", m.Len(), n)
	}
}

// BenchmarkAddRemove adds and removes targets from parallel goroutines on
// a Monitor already watching 100,000. ns/op is per Add+Remove pair.
func BenchmarkAddRemove(b *testing.B) {
	now := time.Now()
	m := New(25*time.Second, 75*time.Second)
	for range 100_000 {
		m.Add(newFake(now))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// A ring of targets per goroutine spreads its work over shards.
		ring := make([]*fakeTarget, 64)
		for i := range ring {
			ring[i] = newFake(now)
		}
		i := 0
		for pb.Next() {
			f := ring[i%len(ring)]
			m.Add(f)
			m.Remove(f)
			i++
		}
	})
}
