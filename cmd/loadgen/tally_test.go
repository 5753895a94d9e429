package main

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

// TestTallyOutcome: deliveries count against the broadcasts answered 200
// only; those of a failed POST are late, not received.
func TestTallyOutcome(t *testing.T) {
	tl := newTally(4)
	if c := tl.capacity(); c != 4 {
		t.Fatalf("capacity = %d, want 4", c)
	}
	for want := range 4 {
		if seq := tl.next(); seq != want {
			t.Fatalf("next = %d, want %d", seq, want)
		}
	}
	timeout := &url.Error{Op: "Post", URL: "http://node/broadcast", Err: context.DeadlineExceeded}
	tl.answer(0, broadcastResult{Delivered: 3, Nodes: 2}, nil)
	tl.answer(1, broadcastResult{Delivered: 2, Nodes: 1, Partial: true}, nil)
	tl.answer(2, broadcastResult{}, timeout)
	tl.answer(3, broadcastResult{}, errors.New("503 Service Unavailable"))
	// Three agents: broadcast 0 reaches all, 1 two of them, 2 one (late);
	// 3 none. Numbers this run never gave out are ignored.
	for _, seq := range []int64{0, 0, 0, 1, 1, 2, 4, -1, 99} {
		tl.arrived(seq)
	}
	if got := tl.received(); got != 6 {
		t.Errorf("received = %d, want 6", got)
	}
	got := tl.outcome(3)
	want := outcome{
		sent: 4, answered: 2,
		expected: 6, received: 5, lost: 1,
		promised: 5, late: 1,
		nodesMin: 1, nodesMax: 2, partial: 1,
	}
	if got != want {
		t.Errorf("outcome = %+v\nwant      %+v", got, want)
	}
	if tl.timedOut.count() != 1 || tl.failed.count() != 1 {
		t.Errorf("timed out %s, failed %s; want 1 each", &tl.timedOut, &tl.failed)
	}
}

// TestTallyExtraArrivalsAreNotNegativeLoss: a broadcast that arrived more
// often than there are agents does not make up for one that fell short.
func TestTallyExtraArrivalsAreNotNegativeLoss(t *testing.T) {
	tl := newTally(2)
	for range 2 {
		seq := tl.next()
		tl.answer(seq, broadcastResult{Delivered: 2, Nodes: 1}, nil)
	}
	for _, seq := range []int64{0, 0, 0, 1} {
		tl.arrived(seq)
	}
	if o := tl.outcome(2); o.lost != 1 || o.received != 4 || o.expected != 4 {
		t.Errorf("outcome = %+v, want 1 lost (of broadcast 1), 4 received of 4 expected", o)
	}
}

func TestTallyNoAnswers(t *testing.T) {
	if o := newTally(3).outcome(100); o != (outcome{}) {
		t.Errorf("outcome of nothing sent = %+v, want zero", o)
	}
}

func TestIsTimeout(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"context deadline", context.DeadlineExceeded, true},
		{"client timeout", &url.Error{Op: "Post", URL: "http://n", Err: os.ErrDeadlineExceeded}, true},
		{"connection refused", &url.Error{Op: "Post", URL: "http://n", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, false},
		{"bad status", errors.New("503 Service Unavailable"), false},
		{"canceled", context.Canceled, false},
	}
	for _, tt := range tests {
		if got := isTimeout(tt.err); got != tt.want {
			t.Errorf("%s: isTimeout(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
