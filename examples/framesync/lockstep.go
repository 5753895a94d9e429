package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"time"

	"github.com/hotpot-rt/hotpot/client"
)

const (
	// groupPrefix names a room's group on the node: framesync:<room>.
	groupPrefix = "framesync:"
	// maxPlayers bounds a room, and with maxInputs and maxInputBytes the
	// size of a frame, well under the node's 64 KiB message limit.
	maxPlayers = 16
	// maxInputs is how many inputs of one player one frame keeps; more in
	// one tick are dropped.
	maxInputs = 4
	// maxInputBytes bounds one input, as JSON.
	maxInputBytes = 256
	// historyChunkBytes bounds one History message.
	historyChunkBytes = 32 << 10
)

// roomName is what a room may be called: the group name's alphabet, short
// enough for the prefix to fit.
var roomName = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,64}$`)

// entry is one thing that happened to one player during a tick: an input,
// or (Event) "join" or "leave".
type entry struct {
	Player string          `json:"player"`
	Input  json.RawMessage `json:"input,omitempty"`
	Event  string          `json:"event,omitempty"`
}

// frame is one tick of a room, as every player receives it.
type frame struct {
	Room   string  `json:"room"`
	Frame  int64   `json:"frame"`
	Inputs []entry `json:"inputs"`
}

// room is one lockstep game: its players, the inputs of the tick under way
// and the frames sent so far that had inputs.
type room struct {
	name  string
	frame int64 // number of the last frame sent; the next is frame+1
	// players maps each player to how many inputs it sent this tick.
	players map[string]int
	pending []entry // this tick's, in the order they came
	// history is every frame sent that had inputs, in order, encoded once
	// when it was sent: a joining player gets these bytes as they are.
	history []json.RawMessage
}

// lockstep collects inputs per room and tick and sends the frames. It is
// owned by the goroutine that runs loop.
type lockstep struct {
	node   *node
	hz     int
	log    *slog.Logger
	rooms  map[string]*room // by name; a room without players is deleted
	roomOf map[string]*room // by player
	// pushFailing reports whether the last frame push failed, so that an
	// outage is logged once rather than at every tick.
	pushFailing bool
}

// newLockstep returns a lockstep of hz frames per second on n.
func newLockstep(n *node, hz int, log *slog.Logger) *lockstep {
	return &lockstep{
		node:   n,
		hz:     hz,
		log:    log,
		rooms:  make(map[string]*room),
		roomOf: make(map[string]*room),
	}
}

// loop handles events and ticks until ctx ends.
func (ls *lockstep) loop(ctx context.Context, events <-chan event) {
	tick := time.NewTicker(time.Second / time.Duration(ls.hz))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			ls.handle(ctx, e)
		case <-tick.C:
			ls.tick(ctx)
		}
	}
}

// handle applies one event of the node's stream.
func (ls *lockstep) handle(ctx context.Context, e event) {
	switch e.kind {
	case streamStarted:
		ls.reconcile(ctx)
	case client.EventTypeAgentDisconnected:
		// A replaced session's id lives on in the session that replaced
		// it, which joins again by itself.
		if e.agent.Reason == nil || *e.agent.Reason != "replaced" {
			ls.leave(ctx, e.agent.Agent, false)
		}
	case client.EventTypeAgentMessage:
		if e.agent.Type == nil {
			return
		}
		var msg struct {
			Room  string          `json:"room"`
			Input json.RawMessage `json:"input"`
		}
		if json.Unmarshal(e.agent.Data, &msg) != nil {
			return // not ours: a message of another page or program
		}
		switch *e.agent.Type {
		case "Join":
			ls.join(ctx, e.agent.Agent, msg.Room)
		case "Input":
			ls.input(e.agent.Agent, msg.Room, msg.Input)
		}
	}
}

// join puts player in the room called name, leaving any other, and sends
// it what it needs to catch up: Joined, then the room's History. A player
// already in that room is only sent those again (it asks when it has
// missed a frame).
func (ls *lockstep) join(ctx context.Context, player, name string) {
	refuse := func(reason string) {
		ls.push(ctx, player, "JoinRefused", map[string]string{"room": name, "reason": reason})
	}
	if !roomName.MatchString(name) {
		refuse("a room name is 1 to 64 letters, digits or _.:@-")
		return
	}
	r := ls.rooms[name]
	if r != nil && ls.roomOf[player] != r && len(r.players) >= maxPlayers {
		refuse("the room is full")
		return
	}
	if old := ls.roomOf[player]; old != nil && old.name != name {
		ls.leave(ctx, player, true)
	}
	if err := ls.node.joinGroup(ctx, player, groupPrefix+name); err != nil {
		if !errors.Is(err, errGone) {
			ls.log.Warn("could not add a player to its room", "player", player, "room", name, "err", err)
		}
		return
	}
	if r == nil {
		r = &room{name: name, players: make(map[string]int)}
		ls.rooms[name] = r
	}
	if ls.roomOf[player] != r {
		r.players[player] = 0
		r.pending = append(r.pending, entry{Player: player, Event: "join"})
		ls.roomOf[player] = r
		ls.log.Info("player joined", "player", player, "room", name, "players", len(r.players))
	}
	// Nothing is sent to the room before these: the player gets them
	// before frame r.frame+1.
	if !ls.push(ctx, player, "Joined", map[string]any{"room": name, "player": player, "hz": ls.hz, "frame": r.frame}) {
		return
	}
	for _, chunk := range chunks(r.history) {
		if !ls.push(ctx, player, "History", map[string]any{"room": name, "frames": chunk}) {
			return
		}
	}
}

// chunks cuts history into pieces of at most historyChunkBytes of JSON
// (or one frame, if larger), in order, sharing history's frames.
func chunks(history []json.RawMessage) [][]json.RawMessage {
	var out [][]json.RawMessage
	start, size := 0, 0
	for i, f := range history {
		n := len(f) + 1
		if size+n > historyChunkBytes && i > start {
			out = append(out, history[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(history) {
		out = append(out, history[start:])
	}
	return out
}

// input records one input of player for the room's next frame. An input
// for another room than the player's is stale (sent before it moved) and
// dropped, as is one too large or past maxInputs in this tick.
func (ls *lockstep) input(player, name string, input json.RawMessage) {
	r := ls.roomOf[player]
	if r == nil || r.name != name || len(input) == 0 || len(input) > maxInputBytes || r.players[player] >= maxInputs {
		return
	}
	r.players[player]++
	r.pending = append(r.pending, entry{Player: player, Input: input})
}

// leave takes player out of its room. moving says it is going to another
// room, and must leave the group; a player that disconnected has left every
// group already.
func (ls *lockstep) leave(ctx context.Context, player string, moving bool) {
	r := ls.roomOf[player]
	if r == nil {
		return
	}
	delete(ls.roomOf, player)
	delete(r.players, player)
	r.pending = append(r.pending, entry{Player: player, Event: "leave"})
	ls.log.Info("player left", "player", player, "room", r.name, "players", len(r.players))
	if len(r.players) == 0 {
		delete(ls.rooms, r.name) // nobody to send frames to
	}
	if moving {
		if err := ls.node.leaveGroup(ctx, player, groupPrefix+r.name); err != nil && !errors.Is(err, errGone) {
			ls.log.Warn("could not take a player out of its room", "player", player, "room", r.name, "err", err)
		}
	}
}

// reconcile drops the players that are no longer connected: after the
// event stream broke, their agent.disconnected may be lost (a node that
// restarted forgot them).
func (ls *lockstep) reconcile(ctx context.Context) {
	for player := range ls.roomOf {
		if ok, err := ls.node.connected(ctx, player); err == nil && !ok {
			ls.leave(ctx, player, false)
		}
	}
}

// tick ends the tick under way: every room gets its next frame, with every
// input of the tick.
func (ls *lockstep) tick(ctx context.Context) {
	for _, r := range ls.rooms {
		r.frame++
		f := frame{Room: r.name, Frame: r.frame, Inputs: r.pending}
		if f.Inputs == nil {
			f.Inputs = []entry{}
		}
		data, _ := json.Marshal(f) // cannot fail: inputs are valid JSON
		if len(f.Inputs) > 0 {
			r.history = append(r.history, data)
		}
		r.pending = nil
		for p := range r.players {
			r.players[p] = 0
		}
		err := ls.node.pushGroup(ctx, groupPrefix+r.name, "Frame", data)
		// A frame that did not go out is kept in the history all the same:
		// a player that missed it asks to catch up again.
		switch {
		case err != nil && !ls.pushFailing:
			ls.log.Warn("could not send frames", "room", r.name, "frame", r.frame, "err", err)
			ls.pushFailing = true
		case err == nil && ls.pushFailing:
			ls.log.Info("sending frames again", "room", r.name, "frame", r.frame)
			ls.pushFailing = false
		}
	}
}

// push sends one event to player and reports whether it was delivered.
func (ls *lockstep) push(ctx context.Context, player, typ string, data any) bool {
	err := ls.node.pushAgent(ctx, player, typ, data)
	if err != nil && !errors.Is(err, errGone) {
		ls.log.Warn("could not send to a player", "player", player, "type", typ, "err", err)
	}
	return err == nil
}
