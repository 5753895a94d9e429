package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// What a misbehaver reads from the node, and how it tells what the node
// did to it.

// frameTally is what a misbehaver read on one connection until it ended.
type frameTally struct {
	errs   map[int32]int64 // Error frames, by code
	kicked string          // the reason of the Kicked frame, if one came
	others int64           // other frames (Welcome, broadcasts, Echoes)
	// end is how the connection ended ("close 1008", "EOF", "reset"), or
	// "" when it was still open when reading stopped.
	end string
}

// readAll reads frames with read until it fails, answering Pings with
// pong when it is not nil, and tallies them.
func readAll(read func() ([]byte, error), pong func()) frameTally {
	t := frameTally{errs: map[int32]int64{}}
	for {
		frame, err := read()
		if err != nil {
			t.end = endOf(err)
			return t
		}
		env, err := codec.JSON.Decode(frame)
		switch {
		case err != nil:
			t.others++
		case env.Type == "Error":
			t.errs[env.Code]++
		case env.Type == "Kicked":
			if p, err := codec.JSON.Payload(env.Data); err == nil {
				t.kicked = kickedReason(p.Raw())
			}
		case env.Type == "Ping" && pong != nil:
			pong()
		default:
			t.others++
		}
	}
}

// kickedReason reads the reason out of Kicked data: {"reason":…}.
func kickedReason(data []byte) string {
	_, rest, ok := strings.Cut(string(data), `"reason":`)
	if !ok {
		return "?"
	}
	reason, _, _ := strings.Cut(strings.TrimLeft(rest, " "), ",")
	return strings.TrimSuffix(strings.TrimSpace(reason), "}")
}

// endOf names how a connection ended from the error that ended its
// reads: "" for a read cut short by the misbehaver itself.
func endOf(err error) string {
	var ne net.Error
	switch status := websocket.CloseStatus(err); {
	case status != -1:
		return fmt.Sprintf("close %d", status)
	case errors.Is(err, context.Canceled), errors.Is(err, net.ErrClosed):
		return ""
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return err.Error()
}

// record adds the tally to the kind's outcomes. The closing outcome is
// prefix ("ws: ", "tcp: " or "") and what came last: the Kicked reason,
// or the one Error frame of a refusal, then how the connection ended;
// other Error frames count by code. A connection still open when reading
// stopped has no closing outcome.
func (t frameTally) record(k *kindStats, prefix string) {
	var total int64
	for _, n := range t.errs {
		total += n
	}
	refusal := t.kicked == "" && total == 1 && t.end != ""
	if !refusal {
		for code, n := range t.errs {
			k.saw(fmt.Sprintf("Error %d", code), n)
		}
	}
	if t.end == "" {
		return
	}
	closing := prefix
	switch {
	case t.kicked != "":
		closing += "Kicked " + t.kicked + ", "
	case refusal:
		for code := range t.errs {
			closing += fmt.Sprintf("Error %d, ", code)
		}
	}
	k.saw(closing+t.end, 1)
}

// watchWS reads ws on a goroutine of its own, answering Pings, until the
// connection ends; the tally comes on the channel returned. The caller
// must receive it before it returns.
func watchWS(ctx context.Context, ws *websocket.Conn) <-chan frameTally {
	pong, _ := codec.JSON.Encode(codec.Envelope{Type: "Pong"})
	done := make(chan frameTally, 1)
	go func() {
		done <- readAll(func() ([]byte, error) {
			_, b, err := ws.Read(ctx)
			return b, err
		}, func() { ws.Write(ctx, websocket.MessageText, pong) })
	}()
	return done
}

// readFrames reads framed frames from conn until it ends, ctx ends, or
// nothing arrives for closeWait, and tallies them; pong, when not nil,
// answers Pings.
func readFrames(ctx context.Context, conn net.Conn, br *bufio.Reader, f tcpFraming, pong func()) frameTally {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	return readAll(func() ([]byte, error) {
		conn.SetReadDeadline(time.Now().Add(closeWait))
		return f.read(br)
	}, pong)
}
