package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// agentLoad is what the subcommands that load agents through the REST API
// (call, push) have in common: named WebSocket agents, and HTTP workers
// that each keep one POST /agents/{id}/… in flight for a while.
type agentLoad struct {
	dial    dialFlags
	api     apiFlags
	agents  int
	workers int
	dur     time.Duration
	meter   meter
}

// register defines the flags on fs; agentsDoc says what the agents do.
func (l *agentLoad) register(fs *flag.FlagSet, agentsDoc string) {
	l.dial.register(fs)
	l.api.register(fs)
	fs.IntVar(&l.agents, "agents", 100, agentsDoc)
	fs.IntVar(&l.workers, "c", 32, "HTTP workers (connections), each with one request in flight")
	fs.DurationVar(&l.dur, "d", 10*time.Second, "how long to send, once all agents have connected")
	l.meter.register(fs)
}

// check reports flags out of range.
func (l *agentLoad) check() error {
	switch {
	case l.agents < 1 || l.workers < 1:
		return fmt.Errorf("-agents %d, -c %d: want at least 1 each", l.agents, l.workers)
	case l.dur <= 0:
		return fmt.Errorf("-d %v: must be positive", l.dur)
	}
	return nil
}

// poster returns a poster of POST /agents/{id}/<op> to ids, from as many
// connections as there are workers.
func (l *agentLoad) poster(ids []string, op string, body func() []byte, want int, rejected, errs *failures) *poster {
	return &poster{api: &l.api, client: l.api.client(l.workers), ids: ids, op: op, body: body, want: want, rejected: rejected, errs: errs}
}

// dialNamed connects n agents one after another, agent i under the id
// <prefix>-<i> and to p.url(i), so that REST requests can name them. If
// one fails, it closes those connected and returns the error.
func dialNamed(ctx context.Context, p *protocol, prefix string, n int) (ids []string, agents []*agent, err error) {
	ids = make([]string, n)
	agents = make([]*agent, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		agents[i], err = dialAgent(ctx, p, withID(p.url(i), ids[i]))
		if err != nil {
			closeAll(agents)
			return nil, nil, fmt.Errorf("agent %s: %w", ids[i], err)
		}
	}
	return ids, agents, nil
}

// serveAll serves every agent on its own goroutine, counted by wg, until
// stop ends or its connection does; agent i's frames other than Ping go to
// handler(i, agent). Connections that end before stop are added to errs.
func serveAll(stop context.Context, agents []*agent, wg *sync.WaitGroup, handler func(i int, a *agent) func(env codec.Envelope, frame []byte), errs *failures) {
	for i, a := range agents {
		handle := handler(i, a)
		wg.Go(func() {
			if err := a.serve(stop, handle); err != nil {
				errs.add(err)
			}
		})
	}
}

// withID adds ?id= to a WebSocket URL.
func withID(wsURL, id string) string {
	sep := "?"
	if strings.Contains(wsURL, "?") {
		sep = "&"
	}
	return wsURL + sep + "id=" + url.QueryEscape(id)
}

// closeAll releases the agents dialed so far.
func closeAll(agents []*agent) {
	for _, a := range agents {
		if a != nil {
			a.release()
		}
	}
}
