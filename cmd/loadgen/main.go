// Command loadgen puts load on a hotpot node and reports what it saw. Run
// it as its own process: one process holds at most ~19,900 sockets on the
// reference machine, so thousands of agents cannot share one with the node.
//
// Usage:
//
//	loadgen idle -url ws://127.0.0.1:8848/ws -n 10000 -rate 2000 -hold 60s
//	loadgen echo -url ws://127.0.0.1:8848/ws -c 100 -d 10s -size 100
//	loadgen call -url ws://127.0.0.1:8848/ws -api http://127.0.0.1:8848 -agents 100 -c 32 -d 10s
//	loadgen push -url ws://127.0.0.1:8848/ws -api http://127.0.0.1:8848 -agents 100 -c 32 -d 10s
//	loadgen broadcast -url ws://127.0.0.1:8848/ws -api http://127.0.0.1:8848 -n 10000 -every 100ms -d 10s
//	loadgen broadcast -url ws://127.0.0.1:8848/ws,ws://127.0.0.1:8858/ws -api http://127.0.0.1:8848 -n 10000 -rate 2000 -per-sec 10 -d 15s
//	loadgen soak -url ws://127.0.0.1:8848/ws -tcp 127.0.0.1:8849 -api http://127.0.0.1:8848 -jwt-secret … -n 5000 -m 50 -d 30s
//
// The first argument picks a subcommand; each has its own flags (loadgen
// <subcommand> -h lists them). -url takes one WebSocket URL or several,
// comma-separated: agent i dials URL i mod their count, so the agents of a
// run are spread round robin over the nodes of a cluster (the last line
// above puts half on each of two nodes). idle and broadcast, whose
// thousands of agents mostly listen, read them with a WebSocket client of
// their own: a few goroutines wait with epoll on all the sockets, so that
// the generator, beside the node on one machine, takes it little CPU; they
// run on Linux and dial ws:// URLs only. broadcast -every is a closed loop
// (each broadcast waits for the last one's answer); -per-sec is an open
// loop (one every 1/R s whatever the answers), which is what shows a node
// falling behind. Progress goes to stderr, results to stdout; echo, call,
// push and broadcast end with a "json" line (operations, rate, p50/p99,
// lost, failed, agents closed) and, given -pid with the server's process
// ids (nodes, redis-server), report its CPU-µs per operation over the
// measured span, which holds no dialing or closing: the figure that stays
// put when the machine is faster or slower on another day. They also log
// "measuring" and "measured" around that span, with the CPU seconds
// loadgen has used so far (cpu_s), and -cpuprofile writes loadgen's own
// CPU profile over it.
// echo and call clients each send far more than a node's default
// --rate-limit (100 frames a second per agent): start the node with
// --rate-limit 0, as bench/ does, or they are refused with Error 429.
// soak is the opposite: it keeps within the node's default limits, needs
// the node's --jwt-secret (it mints the well-behaved agents' tokens) and
// measures two phases, a baseline and the same load with misbehavers
// alongside, ending with a verdict and a "json" line for both (see
// bench/soak.sh); it fails when a well-behaved agent lost anything or
// was closed.
// SIGINT or SIGTERM ends a run early: agents are closed and what was
// measured so far is reported. The exit status is 0 for a clean run, 1 when
// something failed (the failures are reported), 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	// setup defines the subcommand's flags on fs and returns the function
	// that runs it once they are parsed.
	setup func(fs *flag.FlagSet) runFunc
}

// runFunc runs a subcommand until it is done or ctx ends. It writes
// results to out and progress to log.
type runFunc func(ctx context.Context, out io.Writer, log *slog.Logger) error

var commands = []command{
	{"idle", "hold many idle WebSocket agents open, answering Pings", setupIdle},
	{"echo", "measure Echo round trips over WebSocket", setupEcho},
	{"call", "measure REST calls answered by WebSocket agents", setupCall},
	{"push", "measure events pushed through REST to one WebSocket agent each", setupPush},
	{"broadcast", "measure how fast broadcasts reach many WebSocket agents", setupBroadcast},
	{"soak", "hold well-behaved agents under calls and broadcasts, then misbehavers alongside", setupSoak},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches args to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, ok := lookup(args[0])
	if !ok {
		if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
			usage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "loadgen: unknown subcommand %q\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("loadgen "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	runCmd := cmd.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen %s: unexpected argument %q\n", cmd.name, fs.Arg(0))
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("cmd", cmd.name)
	if err := runCmd(ctx, stdout, log); err != nil {
		fmt.Fprintf(stderr, "loadgen %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: loadgen <subcommand> [flags]")
	fmt.Fprintln(w, "subcommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "run 'loadgen <subcommand> -h' for its flags")
}
