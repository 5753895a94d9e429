package node

import "sync"

// slots bounds how many of something run at once. Its methods are safe
// for concurrent use.
type slots chan struct{}

func newSlots(n int) slots { return make(slots, n) }

// TryAcquire takes a slot if one is free, without waiting.
func (s slots) TryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release gives back a slot TryAcquire took.
func (s slots) Release() { <-s }

// tracker runs goroutines that its owner waits for when it stops, and
// refuses new ones from then on. Its methods are safe for concurrent use.
type tracker struct {
	mu      sync.Mutex // guards stopped, and Add against Wait
	stopped bool
	wg      sync.WaitGroup
}

// Go runs fn on a goroutine of its own and reports true, or reports false
// without running it once Stop has begun.
func (t *tracker) Go(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	t.wg.Go(fn)
	return true
}

// Stop refuses new goroutines and waits for the running ones.
func (t *tracker) Stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	t.wg.Wait()
}
