// Command framesync is the backend of the frame-sync demo at /demo/framesync:
// lockstep multiplayer, served through hotpot's REST API and /events alone.
//
// Lockstep (帧同步): the server never runs the game. It collects the inputs
// every player sends during one tick and, when the tick ends, sends all of
// them together as one numbered frame to every player of the room. Every
// client applies the same frames in the same order to the same deterministic
// rules, so every screen shows the same world without it ever being sent.
//
//	go run ./cmd/server
//	go run ./examples/framesync
//
// then open http://127.0.0.1:8848/demo/framesync in two windows.
//
// The messages, client to node (each reaches this backend as an
// agent.message event):
//
//	{"type":"Join","data":{"room":"lobby"}}                 enter a room (leaving any other)
//	{"type":"Input","data":{"room":"lobby","input":{…}}}    one input, opaque to the backend
//
// and node to client, pushed by this backend:
//
//	{"type":"Joined","data":{"room":"lobby","player":"p-1","hz":20,"frame":41}}
//	{"type":"History","data":{"room":"lobby","frames":[…]}} the room's earlier frames that had inputs
//	{"type":"Frame","data":{"room":"lobby","frame":42,"inputs":[{"player":"p-1","input":{…}}]}}
//	{"type":"JoinRefused","data":{"room":"…","reason":"…"}}
//
// A frame's inputs also say who joined ({"player":"p-2","event":"join"}) and
// who left ({"player":"p-2","event":"leave"}) during the tick. A client that
// joins late catches up by replaying the frames before its Joined frame
// number (frames missing from History had no inputs). A room lasts while it
// has players; a room without players sends nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// config is what the flags set.
type config struct {
	// URL is the node's base URL.
	URL string
	// APIKey is the node's --api-key, if it has one.
	APIKey string
	// Hz is how many frames per second each room gets.
	Hz int
}

// maxHz bounds --hz: beyond it a frame's push may not finish within its tick.
const maxHz = 60

func main() {
	cfg := config{}
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8848", "the node's HTTP address")
	flag.StringVar(&cfg.APIKey, "api-key", os.Getenv("HOTPOT_API_KEY"), "the node's API key, if it has one (default $HOTPOT_API_KEY)")
	flag.IntVar(&cfg.Hz, "hz", 20, fmt.Sprintf("frames per second, 1 to %d", maxHz))
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("framesync stopped", "err", err)
		os.Exit(1)
	}
}

// run serves the rooms of the node at cfg.URL until ctx ends, then returns
// nil. It keeps trying while the node is unreachable; it returns an error
// only for a config it cannot run with.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	if cfg.Hz < 1 || cfg.Hz > maxHz {
		return fmt.Errorf("--hz %d: want 1 to %d", cfg.Hz, maxHz)
	}
	n, err := newNode(cfg.URL, cfg.APIKey)
	if err != nil {
		return err
	}
	log.Info("framesync serving rooms", "node", cfg.URL, "hz", cfg.Hz,
		"page", cfg.URL+"/demo/framesync")
	events := make(chan event)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.follow(ctx, events, log)
	}()
	newLockstep(n, cfg.Hz, log).loop(ctx, events)
	<-done
	return nil
}
