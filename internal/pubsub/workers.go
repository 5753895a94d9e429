package pubsub

import (
	"sync"
	"time"
)

// workerIdle is how long a worker goroutine waits for another function
// before it ends.
const workerIdle = 10 * time.Second

// workers runs functions each on a goroutine of its own, but reuses
// goroutines that are done with one: a goroutine's stack, grown by its
// first function (a handler, or a PUBLISH through go-redis), then serves
// the next ones instead of being grown again (a goroutine per message put
// stack copying at 8 % of a node's CPU under cross-node pushes). A
// function never waits for a busy goroutine: one that is idle takes it, or
// a new one starts. A goroutine ends once it has waited workerIdle for a
// function, or when stop closes.
type workers struct {
	// loops counts the goroutines; the owner waits for it once stop is
	// closed.
	loops *sync.WaitGroup
	// stop ends the idle goroutines; a function given after it closed
	// runs on a goroutine that ends with it.
	stop <-chan struct{}
	// idle hands a function to a goroutine waiting for one; unbuffered,
	// so a send succeeds only when one waits.
	idle chan func()
}

func newWorkers(stop <-chan struct{}, loops *sync.WaitGroup) *workers {
	return &workers{loops: loops, stop: stop, idle: make(chan func())}
}

// run runs fn on an idle goroutine, or on a new one. The caller must not
// race run with the owner's Wait on loops: it calls run from a goroutine
// loops counts, or where it knows the owner has not begun to wait.
func (w *workers) run(fn func()) {
	select {
	case w.idle <- fn:
	default:
		w.loops.Go(func() { w.work(fn) })
	}
}

// work runs fn, then whatever run hands it, until it has waited
// workerIdle for a function or stop closes.
func (w *workers) work(fn func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		fn()
		fn = nil // an idle goroutine must not keep its last function
		idle.Reset(workerIdle)
		select {
		case fn = <-w.idle:
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}
