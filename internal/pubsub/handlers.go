package pubsub

import (
	"context"
	"sync"
	"time"
)

// handlerIdle is how long a handler goroutine waits for another message
// before it ends.
const handlerIdle = 10 * time.Second

// handlerPool runs the handlers of incoming messages, each on a goroutine
// of its own, but reuses goroutines that are done with a message: a
// handler's stack, grown by its first message, then serves the next ones
// instead of being grown again (a goroutine per message put stack copying
// at 8 % of a node's CPU under cross-node pushes). A message never waits
// for a busy goroutine: one that is idle takes it, or a new one starts.
type handlerPool struct {
	// loops counts the pool's goroutines; the owner waits for it.
	loops *sync.WaitGroup
	// ctx ends the idle goroutines; a handler given after it ended runs
	// on a goroutine that ends with it.
	ctx context.Context
	// idle hands a message to a goroutine waiting for one; unbuffered, so
	// a send succeeds only when one waits.
	idle chan func()
}

func newHandlerPool(ctx context.Context, loops *sync.WaitGroup) *handlerPool {
	return &handlerPool{loops: loops, ctx: ctx, idle: make(chan func())}
}

// run runs handle on an idle goroutine of the pool, or on a new one.
func (p *handlerPool) run(handle func()) {
	select {
	case p.idle <- handle:
	default:
		p.loops.Go(func() { p.work(handle) })
	}
}

// work runs handle, then whatever run hands it, until it has waited
// handlerIdle for a message or the pool's context ends.
func (p *handlerPool) work(handle func()) {
	idle := time.NewTimer(handlerIdle)
	defer idle.Stop()
	for {
		handle()
		handle = nil // an idle goroutine must not keep its last message
		idle.Reset(handlerIdle)
		select {
		case handle = <-p.idle:
		case <-idle.C:
			return
		case <-p.ctx.Done():
			return
		}
	}
}
