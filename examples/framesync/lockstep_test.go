package main

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// The inputs players of a room send during one tick all arrive together,
// in that tick's frame, which every player of the room gets alike; another
// room's inputs stay in that room's frames.
func TestAFrameHasEveryInputOfItsTick(t *testing.T) {
	node := servertest.Start(t)
	startBackend(t, node, 2) // ticks of 500 ms: inputs sent together fall in one
	a, b, c := dial(t, node, "a"), dial(t, node, "b"), dial(t, node, "c")
	a.join("r1")
	b.join("r1")
	c.join("r2")
	c.frameWith("c's join", is("c", "join", ""))
	b.frameWith("b's join", is("b", "join", ""))
	a.frameWith("b's join", is("b", "join", "")) // a tick has just ended

	a.send("Input", `{"room":"r1","input":{"k":"a"}}`)
	b.send("Input", `{"room":"r1","input":{"k":"b"}}`)
	c.send("Input", `{"room":"r2","input":{"k":"c"}}`)
	b.send("Input", `{"room":"r2","input":{"k":"stale"}}`) // not b's room: dropped

	fa := a.frameWith("a's input", is("a", "", `{"k":"a"}`))
	want := []entry{{Player: "a", Input: []byte(`{"k":"a"}`)}, {Player: "b", Input: []byte(`{"k":"b"}`)}}
	if got := sorted(fa.Inputs); !slices.EqualFunc(got, want, sameEntry) {
		t.Errorf("r1's frame %d has %s, want a's and b's inputs only", fa.Frame, show(fa.Inputs))
	}
	fb := b.frameWith("a's input", is("a", "", `{"k":"a"}`))
	if fb.Room != "r1" || fb.Frame != fa.Frame || !slices.EqualFunc(fb.Inputs, fa.Inputs, sameEntry) {
		t.Errorf("b got frame %d %s, a got frame %d %s", fb.Frame, show(fb.Inputs), fa.Frame, show(fa.Inputs))
	}
	fc := c.frameWith("c's input", is("c", "", `{"k":"c"}`))
	if fc.Room != "r2" || len(fc.Inputs) != 1 {
		t.Errorf("r2's frame %d has %s, want c's input only", fc.Frame, show(fc.Inputs))
	}
}

// A late joiner is told the frame it joins at and given the earlier frames
// that had inputs; players who leave show in the frames; a room without
// players is gone.
func TestJoiningLateAndLeaving(t *testing.T) {
	node := servertest.Start(t)
	startBackend(t, node, 20)
	a, b := dial(t, node, "a"), dial(t, node, "b")
	a.join("room")
	a.send("Input", `{"room":"room","input":{"dx":1}}`)
	moved := a.frameWith("a's input", is("a", "", `{"dx":1}`))

	j := b.join("room")
	if j.Frame < moved.Frame || j.Hz != 20 {
		t.Fatalf("b joined at %+v, after a's input in frame %d", j, moved.Frame)
	}
	first := b.frame()
	if first.Frame != j.Frame+1 || !slices.ContainsFunc(first.Inputs, is("b", "join", "")) {
		t.Errorf("b's first frame %d %s, want frame %d with b's join", first.Frame, show(first.Inputs), j.Frame+1)
	}
	var numbers []int64
	for _, f := range b.history {
		numbers = append(numbers, f.Frame)
	}
	if !slices.IsSorted(numbers) || len(numbers) == 0 || numbers[len(numbers)-1] > j.Frame ||
		!slices.ContainsFunc(b.history, func(f frame) bool { return slices.ContainsFunc(f.Inputs, is("a", "join", "")) }) ||
		!slices.ContainsFunc(b.history, func(f frame) bool {
			return f.Frame == moved.Frame && slices.EqualFunc(f.Inputs, moved.Inputs, sameEntry)
		}) {
		t.Errorf("b's history %v ends after frame %d or lacks a's join and frame %d", b.history, j.Frame, moved.Frame)
	}

	a.ws.CloseNow()
	b.frameWith("a leaving", is("a", "leave", ""))

	// Moving to another room is leaving this one, which, empty, is gone.
	if j := b.join("other"); j.Frame != 0 {
		t.Errorf("b joined a new room at frame %d, want 0", j.Frame)
	}
	for range 5 {
		if f := b.frame(); f.Room != "other" {
			t.Fatalf("b got a frame of %s after moving", f.Room)
		}
	}
	if j := dial(t, node, "c").join("room"); j.Frame != 0 {
		t.Errorf("c joined the room b left empty at frame %d, want 0 (a new room)", j.Frame)
	}
}

// A player whose node restarted is in its room again once it is back; a
// player that never came back is no longer in it.
func TestARestartedNodeLosesNoPlayerAndKeepsNoGhost(t *testing.T) {
	node := servertest.Start(t)
	startBackend(t, node, 20)
	a, b := dial(t, node, "a"), dial(t, node, "b")
	a.join("room")
	b.join("room")
	a.frameWith("b's join", is("b", "join", ""))

	addr := node.HTTPAddr
	node.Kill()
	node = servertest.Start(t, "--http", addr)
	a = dial(t, node, "a") // b does not come back
	a.join("room")
	deadline := time.Now().Add(waitTimeout)
	for !maps.Equal(a.members, map[string]bool{"a": true}) {
		if time.Now().After(deadline) {
			t.Fatalf("a's room has %v, want a alone", a.members)
		}
		a.frame()
	}
}

// A Join that cannot be served is refused, with the reason.
func TestRefusesJoins(t *testing.T) {
	node := servertest.Start(t)
	startBackend(t, node, 20)
	p := dial(t, node, "p")
	for _, room := range []string{"", "has space", strings.Repeat("r", 65), "ünïcode"} {
		p.send("Join", `{"room":"`+room+`"}`)
		if m := p.next("JoinRefused"); !strings.Contains(string(m.Data), "letters, digits") {
			t.Errorf("room %q refused with %s", room, m.Data)
		}
	}
	for i := range maxPlayers {
		dial(t, node, "q"+string(rune('a'+i))).join("full")
	}
	p.send("Join", `{"room":"full"}`)
	if m := p.next("JoinRefused"); !strings.Contains(string(m.Data), "full") {
		t.Errorf("a join to a full room refused with %s", m.Data)
	}
}

// History goes in pieces of at most historyChunkBytes, every frame once,
// in order; a frame larger than that goes alone.
func TestHistoryChunks(t *testing.T) {
	many := slices.Repeat([]int{1000}, 100)
	for _, tc := range []struct {
		name  string
		sizes []int // of the frames, as JSON
		want  []int // frames per chunk
	}{
		{"none", nil, nil},
		{"one", []int{10}, []int{1}},
		{"two just fit", []int{historyChunkBytes/2 - 1, historyChunkBytes/2 - 1}, []int{2}},
		{"two do not fit", []int{historyChunkBytes/2 - 1, historyChunkBytes / 2}, []int{1, 1}},
		{"one too large", []int{100, 2 * historyChunkBytes, 100}, []int{1, 1, 1}},
		{"many", many, []int{32, 32, 32, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var history []json.RawMessage
			for _, n := range tc.sizes {
				history = append(history, json.RawMessage(`"`+strings.Repeat("x", n-2)+`"`))
			}
			got := chunks(history)
			var counts []int
			for _, c := range got {
				counts = append(counts, len(c))
			}
			if !slices.Equal(counts, tc.want) {
				t.Errorf("chunks of %d frames: %v, want %v", len(history), counts, tc.want)
			}
			if all := slices.Concat(got...); !slices.EqualFunc(all, history, func(a, b json.RawMessage) bool { return &a[0] == &b[0] }) {
				t.Errorf("the chunks do not hold history's frames, in order")
			}
		})
	}
}

// sorted returns entries sorted by player.
func sorted(entries []entry) []entry {
	return slices.SortedFunc(slices.Values(entries), func(x, y entry) int { return strings.Compare(x.Player, y.Player) })
}

// sameEntry reports whether x and y are the same entry.
func sameEntry(x, y entry) bool {
	return x.Player == y.Player && x.Event == y.Event && string(x.Input) == string(y.Input)
}

// show formats entries for a failure message.
func show(entries []entry) string {
	var parts []string
	for _, e := range entries {
		parts = append(parts, e.Player+":"+e.Event+string(e.Input))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// The backend sends the node's API key; it refuses a bad --hz at once.
func TestAPIKeyAndFlags(t *testing.T) {
	key := "k3y-for-the-framesync-test"
	node := servertest.Start(t, "--api-key", key)
	t.Run("right key", func(t *testing.T) {
		startBackendWith(t, config{URL: node.URL(), APIKey: key, Hz: 20})
		p := dial(t, node, "p")
		eventually(t, "a Joined", func() bool {
			p.send("Join", `{"room":"keyed"}`)
			select {
			case m := <-p.msgs:
				return m.Type == "Joined"
			case <-time.After(100 * time.Millisecond):
				return false
			}
		})
	})
	t.Run("bad hz", func(t *testing.T) {
		for _, hz := range []int{0, -1, maxHz + 1} {
			if err := run(t.Context(), config{URL: node.URL(), Hz: hz}, slog.New(slog.DiscardHandler)); err == nil {
				t.Errorf("--hz %d accepted", hz)
			}
		}
	})
}
