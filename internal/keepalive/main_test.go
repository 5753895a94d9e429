package keepalive

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeTarget is a Target that records the calls it gets. Its hooks, when
// set, run inside Ping and Expire (to call Remove from a callback).
type fakeTarget struct {
	last    atomic.Int64
	pings   atomic.Int64
	expires atomic.Int64

	onPing   func()
	onExpire func()

	mu          sync.Mutex
	expiredLast time.Time // guarded by mu
}

// newFake returns a target whose last receive is at last.
func newFake(last time.Time) *fakeTarget {
	f := &fakeTarget{}
	f.last.Store(last.UnixNano())
	return f
}

func (f *fakeTarget) LastReceive() int64 { return f.last.Load() }

func (f *fakeTarget) Ping() {
	f.pings.Add(1)
	if f.onPing != nil {
		f.onPing()
	}
}

func (f *fakeTarget) Expire(lastReceive time.Time) {
	f.mu.Lock()
	f.expiredLast = lastReceive
	f.mu.Unlock()
	f.expires.Add(1)
	if f.onExpire != nil {
		f.onExpire()
	}
}

// lastExpire returns the lastReceive of the latest Expire call.
func (f *fakeTarget) lastExpire() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.expiredLast
}

// sweepWithin runs one sweep and fails the test if it has not returned
// within a few seconds (a callback deadlocked on a shard lock).
func sweepWithin(t *testing.T, m *Monitor, now time.Time) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Sweep(now)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Sweep did not return: deadlock in a callback?")
	}
}
