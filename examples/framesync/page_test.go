package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hotpot-rt/hotpot/internal/browsertest"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// positions is what window.framesync says of the dots: [x, y] by player.
type positions map[string][2]int

// openDemo opens the demo page of node as player, in room.
func openDemo(t *testing.T, node *servertest.Process, room, player string) *browsertest.Tab {
	t.Helper()
	tab := browsertest.NewTab(t)
	tab.Navigate(fmt.Sprintf("%s/demo/framesync?room=%s&player=%s", node.URL(), room, player))
	return tab
}

// dots returns the positions tab shows now.
func dots(tab *browsertest.Tab) positions {
	return browsertest.Eval[positions](tab, `framesync.positions`)
}

// key presses (down) or releases an arrow key (kb.ArrowLeft…) in tab.
func key(tab *browsertest.Tab, arrow string, down bool) {
	events := kb.Encode([]rune(arrow)[0]) // key down, key up
	e := events[len(events)-1]
	if down {
		e = events[0]
	}
	tab.Do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, *e)
		return err
	}))
}

// sameFrame checks that tabs show the same positions at the same frame:
// it takes the frame one tab is at, waits for the other to get there, and
// compares what both showed then.
func sameFrame(t *testing.T, a, b *browsertest.Tab) positions {
	t.Helper()
	n := browsertest.Eval[int](a, `framesync.frame`)
	b.WaitFor(fmt.Sprintf(`framesync.frame >= %d`, n), fmt.Sprintf("frame %d", n))
	at := fmt.Sprintf(`framesync.positionsAt(%d)`, n)
	pa, pb := browsertest.Eval[positions](a, at), browsertest.Eval[positions](b, at)
	if pa == nil || !reflect.DeepEqual(pa, pb) {
		t.Fatalf("at frame %d, one tab shows %v, the other %v", n, pa, pb)
	}
	return pa
}

// Two browsers in one room see each other's dot move, by keys and by the
// on-screen buttons, and show the same positions at every frame; one that
// joins late catches up with the moves made before it came.
func TestTwoBrowsersPlayInLockstep(t *testing.T) {
	node := servertest.Start(t)
	startBackend(t, node, 20)
	alice := openDemo(t, node, "test", "alice")
	alice.WaitFor(`framesync.positions.alice !== undefined`, "alice's dot")
	start := dots(alice)["alice"]

	// Alice holds → before bob comes: bob must replay it.
	key(alice, kb.ArrowRight, true)
	alice.WaitFor(fmt.Sprintf(`framesync.positions.alice[0] >= Math.min(%d, 626)`, start[0]+40), "alice's dot to move right")
	key(alice, kb.ArrowRight, false)

	bob := openDemo(t, node, "test", "bob")
	bob.WaitFor(`framesync.positions.alice !== undefined && framesync.positions.bob !== undefined`, "both dots in bob's tab")
	alice.WaitFor(`framesync.positions.bob !== undefined`, "bob's dot in alice's tab")
	sameFrame(t, alice, bob)

	// A key tap moves alice one step down in bob's tab.
	before := dots(bob)["alice"]
	alice.Do(chromedp.KeyEvent(kb.ArrowDown))
	bob.WaitFor(fmt.Sprintf(`framesync.positions.alice[1] > %d`, before[1]), "alice's dot to move down in bob's tab")
	sameFrame(t, alice, bob)

	// Bob's on-screen button moves bob in alice's tab.
	before = dots(alice)["bob"]
	dir, moved := "left", fmt.Sprintf(`framesync.positions.bob[0] < %d`, before[0])
	if before[0] < 320 {
		dir, moved = "right", fmt.Sprintf(`framesync.positions.bob[0] > %d`, before[0])
	}
	bob.Do(chromedp.Click(`.fs-pad [data-dir="` + dir + `"]`))
	alice.WaitFor(moved, "bob's dot to move "+dir+" in alice's tab")
	final := sameFrame(t, bob, alice)
	if len(final) != 2 {
		t.Errorf("positions %v, want alice and bob", final)
	}
	for _, tab := range []*browsertest.Tab{alice, bob} {
		if hint := browsertest.Eval[string](tab, `framesync.hint`); hint != "" {
			t.Errorf("hint %q while playing", hint)
		}
		if got := browsertest.Eval[string](tab, `document.getElementById("fs-list").textContent`); !strings.Contains(got, "alice") || !strings.Contains(got, "bob") {
			t.Errorf("players list %q", got)
		}
	}
}

// Arrow keys typed in a text field edit the field, not the dot; the form
// moves a player to another room, which the first room sees it leave.
func TestFieldsKeepTheirKeysAndTheFormMovesRooms(t *testing.T) {
	node := servertest.Start(t)
	startBackend(t, node, 20)
	alice, bob := openDemo(t, node, "r1", "alice"), openDemo(t, node, "r1", "bob")
	alice.WaitFor(`framesync.positions.bob !== undefined`, "bob's dot")
	before := dots(alice)["alice"]
	alice.Do(chromedp.Click(`#fs-room-input`), chromedp.KeyEvent(kb.ArrowLeft+kb.ArrowUp+kb.ArrowDown))
	n := browsertest.Eval[int](bob, `framesync.frame`)
	bob.WaitFor(fmt.Sprintf(`framesync.frame >= %d`, n+10), "ten frames")
	if after := dots(bob)["alice"]; after != before {
		t.Errorf("arrows in the room field moved alice from %v to %v", before, after)
	}

	bob.Do(chromedp.Click(`#fs-room-input`),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("fs-room-input").value = "r2"`),
		chromedp.Click(`#fs-form button[type=submit]`))
	alice.WaitFor(`framesync.positions.bob === undefined`, "bob to leave r1")
	bob.WaitFor(`framesync.room === "r2" && framesync.positions.bob !== undefined && framesync.positions.alice === undefined`, "bob alone in r2")
	if got := browsertest.Eval[string](bob, `location.search`); !strings.Contains(got, "room=r2") {
		t.Errorf("the address %q does not say the room", got)
	}
}

// A page that missed a frame catches up again, and agrees with the others.
func TestAMissedFrameIsCaughtUp(t *testing.T) {
	node := servertest.Start(t)
	startBackend(t, node, 20)
	alice, bob := openDemo(t, node, "gap", "alice"), openDemo(t, node, "gap", "bob")
	bob.WaitFor(`framesync.positions.alice !== undefined && framesync.positions.bob !== undefined`, "both dots")
	key(alice, kb.ArrowLeft, true)
	defer key(alice, kb.ArrowLeft, false)

	// A frame from nowhere, far ahead: bob has missed frames.
	n := browsertest.Eval[int](bob, `framesync.frame`)
	joins := browsertest.Eval[int](bob, `framesync.joins`)
	status, body := node.Request(t, "POST", "/agents/bob/events", fmt.Sprintf(`{"type":"Frame","data":{"room":"gap","frame":%d,"inputs":[]}}`, n+100))
	if status != 202 {
		t.Fatalf("push: %d %s", status, body)
	}
	bob.WaitFor(fmt.Sprintf(`framesync.joins > %d && framesync.frame > %d`, joins, n), "bob to join again and catch up")
	sameFrame(t, alice, bob)
}

// Without the backend the page says what to start; once it runs, the page
// joins by itself.
func TestThePageSaysWhenTheBackendIsMissing(t *testing.T) {
	node := servertest.Start(t)
	tab := openDemo(t, node, "lobby", "alice")
	tab.WaitFor(`framesync.hint.includes("is examples/framesync running?")`, "the hint")
	if shots := os.Getenv("FRAMESYNC_SHOTS"); shots != "" {
		tab.Screenshot(filepath.Join(shots, "framesync-no-backend.png"))
	}
	startBackend(t, node, 20)
	tab.WaitFor(`framesync.positions.alice !== undefined && framesync.hint === ""`, "alice's dot, and no hint")
}

// At phone width the page fits the screen, the arena and its buttons
// first; at 1280×800 and 1536×730 the arena is wide and all on the
// screen. With
// $FRAMESYNC_SHOTS set to a directory, it saves screenshots of two players
// there: framesync-{light,dark}.png and framesync-phone-{light,dark}.png.
func TestLayout(t *testing.T) {
	node := servertest.Start(t)
	startBackend(t, node, 20)
	shots := os.Getenv("FRAMESYNC_SHOTS")
	for _, tc := range []struct {
		name          string
		width, height int64
	}{{"phone", 390, 844}, {"desktop", 1280, 800}, {"laptop", 1536, 730}} {
		for _, scheme := range []string{"light", "dark"} {
			t.Run(tc.name+" "+scheme, func(t *testing.T) {
				other := openDemo(t, node, "layout-"+tc.name+"-"+scheme, "bob")
				tab := browsertest.NewTab(t)
				tab.Do(chromedp.EmulateViewport(tc.width, tc.height))
				tab.SetColorScheme(scheme)
				tab.Navigate(fmt.Sprintf("%s/demo/framesync?room=layout-%s-%s&player=alice", node.URL(), tc.name, scheme))
				tab.WaitFor(`framesync.positions.bob !== undefined`, "bob's dot")
				key(other, kb.ArrowUp, true)
				tab.WaitFor(`framesync.frame > 0 && framesync.positions.bob[1] <= 14`, "bob at the top")
				key(other, kb.ArrowUp, false)
				layout := browsertest.Eval[struct {
					Overflow   bool
					Arena, Pad [4]float64 // left, top, right, bottom
				}](tab, `(() => {
					const r = (sel) => { const b = document.querySelector(sel).getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
					return { Overflow: document.documentElement.scrollWidth > innerWidth, Arena: r("#fs-canvas"), Pad: r(".fs-pad") };
				})()`)
				arena, pad, w, h := layout.Arena, layout.Pad, float64(tc.width), float64(tc.height)
				if layout.Overflow {
					t.Errorf("the page is wider than the screen")
				}
				if tc.name == "phone" && (arena[2]-arena[0] < 0.75*w || pad[1] < arena[3] || pad[3] > h) {
					t.Errorf("arena %v, buttons %v: want the arena across the screen, the buttons under it, both on the first screen", arena, pad)
				}
				if tc.name != "phone" && (arena[2]-arena[0] < 0.55*w || arena[3] > h) {
					t.Errorf("arena %v: want it most of the width, and all on the first screen", arena)
				}
				if shots != "" && tc.name != "laptop" {
					if err := os.MkdirAll(shots, 0o755); err != nil {
						t.Fatal(err)
					}
					name := "framesync-" + scheme + ".png"
					if tc.name == "phone" {
						name = "framesync-phone-" + scheme + ".png"
					}
					tab.Screenshot(filepath.Join(shots, name))
				}
			})
		}
	}
}
