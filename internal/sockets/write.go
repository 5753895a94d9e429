package sockets

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// connWriter is the only way bytes reach an agent's connection: its data
// frames, and on WebSocket the control frames its read loop answers with.
// Its mutex keeps each write whole and in order, and is held across that
// write only.
//
// A write is first tried once without blocking, on the socket itself:
// usually it has room, and a deadline (a runtime timer armed and cleared)
// would cost a tenth of a Ping's write at 10,000 agents. tryWrite stops
// there, keeping what did not fit as pending; every later write sends the
// pending bytes first, so nothing can come between the two halves.
type connWriter struct {
	conn net.Conn
	// raw is conn's file descriptor when it has one (not TLS).
	raw syscall.RawConn

	mu sync.Mutex // serialises writes to conn; guards pending
	// pending is the unwritten tail of a tryWrite.
	pending []byte
}

// newConnWriter returns the writer of conn.
func newConnWriter(conn net.Conn) *connWriter {
	w := &connWriter{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		w.raw, _ = sc.SyscallConn()
	}
	return w
}

// canTry reports whether tryWrite can be used: the connection has a file
// descriptor of its own (TLS connections do not).
func (w *connWriter) canTry() bool { return w.raw != nil }

// tryResult says how far a write that must not block got.
type tryResult int

const (
	// tryDone: everything went out.
	tryDone tryResult = iota
	// tryPending: what the socket did not take is pending; the caller
	// must see that flush runs.
	tryPending
	// tryBusy: another write holds the connection (the read loop writing a
	// control frame to a client that does not read); nothing was written
	// or kept, and the caller must keep the bytes for a writer that may
	// wait.
	tryBusy
)

// tryWrite writes what of p the socket takes now, without blocking and
// without waiting for a write in progress, and keeps the rest as pending.
func (w *connWriter) tryWrite(p []byte) tryResult {
	if !w.mu.TryLock() {
		return tryBusy
	}
	defer w.mu.Unlock()
	if len(w.pending) > 0 {
		w.pending = append(w.pending, p...)
		return tryPending
	}
	done := w.writeNowLocked(p)
	if done == len(p) {
		return tryDone
	}
	w.pending = append(w.pending[:0], p[done:]...)
	return tryPending
}

// flush writes the pending bytes, giving up after timeout.
func (w *connWriter) flush(timeout time.Duration) error {
	_, err := w.writeWithin(nil, timeout)
	return err
}

// writeWithin writes the pending bytes and then p, giving up after timeout.
func (w *connWriter) writeWithin(p []byte, timeout time.Duration) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) > 0 {
		if err := w.writeBlockingLocked(w.pending, timeout); err != nil {
			return 0, err
		}
		w.pending = w.pending[:0]
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := w.writeBlockingLocked(p, timeout); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeNowLocked makes one non-blocking attempt to write p and returns
// how many bytes went out; w.mu must be held.
func (w *connWriter) writeNowLocked(p []byte) int {
	done := 0
	if w.raw != nil {
		w.raw.Write(func(fd uintptr) bool {
			if n, err := syscall.Write(int(fd), p); err == nil {
				done = n
			}
			return true // one attempt only
		})
	}
	return done
}

// writeBlockingLocked writes all of p, trying without a deadline first;
// w.mu must be held.
func (w *connWriter) writeBlockingLocked(p []byte, timeout time.Duration) error {
	done := w.writeNowLocked(p)
	if done == len(p) {
		return nil
	}
	w.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := w.conn.Write(p[done:])
	w.conn.SetWriteDeadline(time.Time{})
	return err
}

// framer wraps one payload in its transport's framing.
type framer interface {
	appendFrame(dst, payload []byte) []byte
}

var batchBuffers = sync.Pool{New: func() any { return new([]byte) }}

// writeBatch writes frames to w, each framed by f, giving up after
// timeout: frames queued while the writer was busy leave in one write.
func writeBatch(w *connWriter, f framer, frames [][]byte, timeout time.Duration) error {
	bp, buf := frameAll(f, frames)
	_, err := w.writeWithin(buf, timeout)
	putBatch(bp, buf)
	return err
}

// tryBatch writes frames to w without blocking, keeping what does not fit
// as pending, and reports how far it got.
func tryBatch(w *connWriter, f framer, frames [][]byte) tryResult {
	bp, buf := frameAll(f, frames)
	result := w.tryWrite(buf)
	putBatch(bp, buf)
	return result
}

func frameAll(f framer, frames [][]byte) (*[]byte, []byte) {
	bp := batchBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, payload := range frames {
		buf = f.appendFrame(buf, payload)
	}
	return bp, buf
}

func putBatch(bp *[]byte, buf []byte) {
	if cap(buf) <= 64<<10 { // keep big bursts from pinning memory
		*bp = buf[:0]
		batchBuffers.Put(bp)
	}
}
