//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/hotpot-rt/hotpot/internal/wsproto"
)

// herd serves the agents of idle and broadcast runs from a few
// goroutines, pollers, one per core: each waits with epoll on the sockets
// of its share of the agents, reads each one ready into one buffer and
// parses its frames in place. A frame then costs the generator about one
// read(2) and no goroutine wakeup, where a goroutine per agent costs a
// wakeup, a second read that finds nothing, a context and an allocation
// per frame: on a machine the node shares, that CPU is taken from the
// node, and from what is measured.
type herd struct {
	stop   context.Context
	proto  *protocol
	st     *idleState
	log    *slog.Logger
	handle agentHandler
	// conns holds the open agents by number; agent i belongs to poller
	// i mod len(pollers), whose mu guards its slots.
	conns   []*rawConn
	pollers []*poller
}

// rawConn is an agent's socket, detached from Go's netpoller, and what
// its poller knows of it. Once added, only its poller's goroutine uses it.
type rawConn struct {
	i       int
	fd      int // -1 once closed
	frames  frameReader
	pending []byte // the bytes of a frame not yet complete
	// silence is how long its node may stay silent; last is when bytes
	// last came.
	silence time.Duration
	last    time.Time
	// stalled is set once the handler stopped its reading.
	stalled bool
}

// poller serves every len(h.pollers)-th agent, from first, on one
// goroutine (run).
type poller struct {
	h     *herd
	first int
	epfd  int
	// epoll is epfd in Go's netpoller, where run waits for it to be
	// readable: a goroutine parked there costs the runtime nothing, where
	// one blocked in epoll_wait holds a P and a thread.
	epoll *os.File
	wake  int // an eventfd in epfd that wakes run: the run ends, or fresh agents
	// readyConns, events, buf and out are run's: the agents ready, epoll's
	// answer, the read buffer and the frame being written. closing is set
	// by run once it has started closing its agents, when the run ends:
	// their errors are then expected.
	readyConns []*rawConn
	events     []unix.EpollEvent
	buf, out   []byte
	closing    bool

	mu sync.Mutex
	// open counts the poller's agents not yet closed; fresh are those
	// added with bytes already read, for run to parse. Guarded by mu.
	open  int
	fresh []*rawConn
	// refuse is set once run starts closing its agents or fails: from then
	// on add refuses agents. done is set when wake is closed. Guarded by
	// mu.
	refuse, done bool
}

// wakeToken marks the wake eventfd's events, in place of an agent number.
const wakeToken = -1

// closeTimeout bounds the close handshakes when the run ends, as
// coder/websocket bounds one.
const closeTimeout = 5 * time.Second

// startHerd starts the pollers of n agents, counted by wg, and returns the
// function that hands agent i, once dialed, to its poller; that function
// closes the agent when it fails. The pollers run until stop ends and
// their agents are closed, with a close handshake.
func startHerd(stop context.Context, p *protocol, n int, st *idleState, log *slog.Logger, handle agentHandler, wg *sync.WaitGroup) (add func(i int, d *rawDial) error, err error) {
	h := &herd{stop: stop, proto: p, st: st, log: log, handle: handle, conns: make([]*rawConn, n)}
	for k := range min(runtime.GOMAXPROCS(0), n) {
		pl, err := newPoller(h, k)
		if err != nil {
			for _, pl := range h.pollers {
				pl.shutdown()
			}
			return nil, err
		}
		h.pollers = append(h.pollers, pl)
	}
	for _, pl := range h.pollers {
		wg.Go(pl.run)
	}
	context.AfterFunc(stop, func() {
		for _, pl := range h.pollers {
			pl.mu.Lock()
			pl.signal()
			pl.mu.Unlock()
		}
	})
	return h.add, nil
}

// newPoller returns the poller of the agents from first on, with its
// epoll instance and wake eventfd.
func newPoller(h *herd, first int) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	p := &poller{h: h, first: first, epfd: epfd, epoll: os.NewFile(uintptr(epfd), "epoll"), wake: wake,
		events: make([]unix.EpollEvent, 256), buf: make([]byte, 64<<10)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeToken}); err != nil {
		p.shutdown()
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	// A deadline is refused unless the file is in the netpoller.
	if err := p.epoll.SetReadDeadline(time.Time{}); err != nil {
		p.shutdown()
		return nil, fmt.Errorf("epoll descriptor not pollable: %w", err)
	}
	return p, nil
}

// add hands agent i, dialed as d, to its poller.
func (h *herd) add(i int, d *rawDial) error {
	fd, err := detach(d.conn)
	if err != nil {
		return err
	}
	c := &rawConn{i: i, fd: fd, frames: d.frames, pending: d.rest, silence: d.silence, last: time.Now()}
	p := h.pollers[i%len(h.pollers)]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refuse {
		unix.Close(fd)
		return errors.New("the run is ending")
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	h.conns[i] = c
	p.open++
	h.st.open.Add(1)
	if len(c.pending) > 0 {
		p.fresh = append(p.fresh, c)
		p.signal()
	}
	return nil
}

// detach returns a descriptor of conn's socket of its own, non-blocking
// like Go's, and closes conn: from then on the socket is read and written
// with system calls, outside Go's netpoller.
func detach(conn net.Conn) (int, error) {
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup: %w", dupErr)
	}
	return fd, nil
}

// signal wakes run. p.mu must be held.
func (p *poller) signal() {
	if !p.done {
		unix.Write(p.wake, binary.NativeEndian.AppendUint64(nil, 1))
	}
}

// run serves the poller's agents until the run ends and they are closed.
func (p *poller) run() {
	defer p.shutdown()
	raw, err := p.epoll.SyscallConn()
	if err != nil {
		p.closeAll(err)
		return
	}
	// run wakes for a sweep every second, and when closing at closeBy.
	var closeBy, swept, deadline time.Time
	for {
		next := swept.Add(time.Second)
		if !closeBy.IsZero() {
			next = closeBy
		}
		if next != deadline {
			deadline = next
			p.epoll.SetReadDeadline(deadline)
		}
		// Parked until epfd is readable, then takes what is ready.
		n, waitErr := 0, error(nil)
		err := raw.Read(func(fd uintptr) bool {
			n, waitErr = unix.EpollWait(int(fd), p.events, 0)
			return n > 0 || waitErr != nil && waitErr != unix.EINTR
		})
		switch {
		case waitErr != nil && waitErr != unix.EINTR:
			err = fmt.Errorf("epoll_wait: %w", waitErr)
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = nil
		}
		if err != nil {
			p.closeAll(err)
			return
		}
		now := time.Now()
		p.mu.Lock()
		p.readyConns = p.readyConns[:0]
		for _, ev := range p.events[:max(n, 0)] {
			if ev.Fd == wakeToken {
				unix.Read(p.wake, p.buf[:8])
			} else if c := p.h.conns[ev.Fd]; c != nil {
				p.readyConns = append(p.readyConns, c)
			}
		}
		fresh := p.fresh
		p.fresh = nil
		p.mu.Unlock()

		for _, c := range fresh {
			if c.fd >= 0 {
				p.parse(c, c.pending)
			}
		}
		for _, c := range p.readyConns {
			if c.fd >= 0 {
				p.read(c, now)
			}
		}
		switch {
		case closeBy.IsZero() && p.h.stop.Err() != nil:
			closeBy = now.Add(closeTimeout)
			p.beginClose()
		case closeBy.IsZero() && now.Sub(swept) >= time.Second:
			swept = now
			p.sweep(now)
		}
		if !closeBy.IsZero() && (p.openCount() == 0 || !now.Before(closeBy)) {
			p.closeAll(nil)
			return
		}
	}
}

// read reads what agent c's socket holds, after the bytes it kept, and
// parses it.
func (p *poller) read(c *rawConn, now time.Time) {
	if len(p.buf) < len(c.pending)+4096 {
		p.buf = make([]byte, len(c.pending)+64<<10)
	}
	k := copy(p.buf, c.pending)
	// recvfrom(2) rather than read(2): on a socket it skips the file
	// layer, CPU the node gets instead.
	n, _, err := unix.Recvfrom(c.fd, p.buf[k:], 0)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil:
		p.drop(c, err)
		return
	case n == 0:
		p.drop(c, io.ErrUnexpectedEOF)
		return
	}
	c.last = now
	p.parse(c, p.buf[:k+n])
}

// parse handles the messages and control frames in b and keeps, in
// c.pending, the bytes of a frame not yet complete.
func (p *poller) parse(c *rawConn, b []byte) {
	for {
		op, payload, n, err := c.frames.next(b)
		b = b[n:]
		if err != nil {
			p.drop(c, fmt.Errorf("frame from node: %w", err))
			return
		}
		if op == 0 {
			break
		}
		if !p.message(c, op, payload) {
			if c.fd < 0 {
				return
			}
			break // stalled: the rest waits until it reads again
		}
	}
	c.pending = append(c.pending[:0], b...)
}

// message handles one message or control frame of agent c, and reports
// whether c is to be read on: false once it is closed or stalled.
func (p *poller) message(c *rawConn, op byte, payload []byte) bool {
	switch op {
	case wsproto.OpPing:
		if err := p.write(c, wsproto.OpPong, payload); err != nil && !p.closing {
			p.drop(c, fmt.Errorf("answering ping: %w", err))
			return false
		}
	case wsproto.OpPong:
	case wsproto.OpClose:
		// When closing, this ends the close handshake; else it is the
		// node closing the agent, which is answered in kind.
		err := error(nil)
		if !p.closing {
			p.write(c, wsproto.OpClose, payload[:min(len(payload), 2)])
			err = closeError(payload)
		}
		p.drop(c, err)
		return false
	default:
		env, err := p.h.proto.decode(payload)
		switch {
		case err != nil:
			p.drop(c, fmt.Errorf("frame from node: %w", err))
			return false
		case env.Type == "Ping":
			if p.closing {
				break
			}
			if err := p.write(c, p.h.proto.opcode(), p.h.proto.pong); err != nil {
				p.drop(c, fmt.Errorf("answering Ping: %w", err))
				return false
			}
			p.h.proto.pongs.Add(1)
		case p.h.handle != nil && !c.stalled && !p.h.handle(c.i, env):
			// A stalled agent reads nothing more until the run ends.
			c.stalled = true
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
			return false
		}
	}
	return true
}

// write sends agent c one frame, at once: a frame the socket's buffer has
// no room for is an error, as a node that reads nothing from its agent is.
func (p *poller) write(c *rawConn, op byte, payload []byte) error {
	p.out = appendClientFrame(p.out[:0], op, payload, maskKey())
	n, err := unix.Write(c.fd, p.out)
	switch {
	case err == unix.EAGAIN:
		return errors.New("socket buffer full")
	case err != nil:
		return err
	case n < len(p.out):
		return fmt.Errorf("wrote %d bytes of a %d-byte frame: socket buffer full", n, len(p.out))
	}
	return nil
}

// drop closes agent c, which ended for err (nil when the run closed it).
func (p *poller) drop(c *rawConn, err error) {
	unix.Close(c.fd)
	c.fd = -1
	p.mu.Lock()
	p.h.conns[c.i] = nil
	p.open--
	p.mu.Unlock()
	st := p.h.st
	if err != nil && !p.closing && st.drops.add(err) {
		p.h.log.Warn("agent closed unexpectedly (only the first is logged)", "err", err)
	}
	// Counted closed after its error, so that who sees none open sees why.
	if st.open.Add(-1) == 0 {
		select {
		case st.emptied <- struct{}{}:
		default:
		}
	}
}

// agents returns the poller's open agents.
func (p *poller) agents() []*rawConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var conns []*rawConn
	for i := p.first; i < len(p.h.conns); i += len(p.h.pollers) {
		if c := p.h.conns[i]; c != nil {
			conns = append(conns, c)
		}
	}
	return conns
}

// openCount returns how many of the poller's agents are open.
func (p *poller) openCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// sweep closes the agents whose node has been silent for longer than it
// can be while healthy (see agent.silence).
func (p *poller) sweep(now time.Time) {
	for _, c := range p.agents() {
		if !c.stalled && now.Sub(c.last) >= c.silence {
			p.drop(c, fmt.Errorf("%w (%v)", errSilent, c.silence))
		}
	}
}

// beginClose starts the close handshake of every agent of the poller,
// stalled ones included, which read again to see its end.
func (p *poller) beginClose() {
	p.closing = true
	p.mu.Lock()
	p.refuse = true
	p.mu.Unlock()
	for _, c := range p.agents() {
		if c.stalled {
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.i)})
		}
		if p.write(c, wsproto.OpClose, wsproto.ClosePayload(uint16(websocket.StatusNormalClosure), "")) != nil {
			p.drop(c, nil)
		}
	}
}

// closeAll closes every agent of the poller left open, for err, and
// refuses more.
func (p *poller) closeAll(err error) {
	p.mu.Lock()
	p.refuse = true
	p.mu.Unlock()
	for _, c := range p.agents() {
		p.drop(c, err)
	}
}

// shutdown closes the poller's descriptors; add refuses agents from then
// on.
func (p *poller) shutdown() {
	p.mu.Lock()
	p.refuse, p.done = true, true
	p.mu.Unlock()
	unix.Close(p.wake)
	p.epoll.Close()
}
