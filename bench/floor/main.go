// Command floor measures the cheapest broadcast this machine can do, as a
// floor for hotpot's: one 100-byte write(2) to each of -n loopback TCP
// sockets, by GOMAXPROCS goroutines, -per-sec times a second, open loop —
// no framing, no HTTP, no queue, no lock — while a receiver process reads
// them with raw epoll loops and measures each delivery's delay from the
// moment its broadcast began. It prints the sender's CPU-µs per write, the
// receiver's per delivery, and the delay's percentiles, as BENCHMARKS.md
// reports them:
//
//	go run ./bench/floor -n 10000 -per-sec 5 -d 15s
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// frameSize is the size of one broadcast frame: hotpot's broadcast
// benchmark sends 100 bytes of data.
const frameSize = 100

// chunk is how many sockets a writer takes at a time, as hotpot's fan-out.
const chunk = 64

func main() {
	n := flag.Int("n", 10000, "sockets")
	perSec := flag.Int("per-sec", 5, "broadcasts a second")
	duration := flag.Duration("d", 15*time.Second, "how long to broadcast")
	readers := flag.Int("readers", 1, "receiver threads, each with an epoll of its own (one is the fastest here)")
	receive := flag.String("receive", "", "run as the receiver, connecting to this address")
	flag.Parse()
	log.SetFlags(0)
	if *receive != "" {
		receiveAll(*receive, *n, *readers, *duration+3*time.Second)
		return
	}
	broadcastAll(*n, *perSec, *readers, *duration)
}

// broadcastAll starts the receiver, accepts its n connections and
// broadcasts to them for duration.
func broadcastAll(n, perSec, readers int, duration time.Duration) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	receiver := exec.Command(os.Args[0], "-receive", ln.Addr().String(), "-n", fmt.Sprint(n),
		"-readers", fmt.Sprint(readers), "-d", duration.String())
	receiver.Stdout, receiver.Stderr = os.Stdout, os.Stderr
	if err := receiver.Start(); err != nil {
		log.Fatal(err)
	}
	fds := make([]int, n)
	for i := range fds {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		fds[i] = detach(conn)
	}
	time.Sleep(time.Second) // the receiver's readers start

	frame := make([]byte, frameSize)
	var failed atomic.Int64
	broadcast := func() {
		binary.LittleEndian.PutUint64(frame, uint64(time.Now().UnixNano()))
		var taken atomic.Int64
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for end := int(taken.Add(chunk)); end-chunk < n; end = int(taken.Add(chunk)) {
					for _, fd := range fds[end-chunk : min(end, n)] {
						if written, err := syscall.Write(fd, frame); err != nil || written != frameSize {
							failed.Add(1)
						}
					}
				}
			})
		}
		wg.Wait()
	}
	before := cpuTime()
	writes := 0
	tick := time.NewTicker(time.Second / time.Duration(perSec))
	for start := time.Now(); time.Since(start) < duration; <-tick.C {
		broadcast()
		writes += n
	}
	fmt.Printf("sender    %d writes (%d failed), %.2f CPU-µs/write\n",
		writes, failed.Load(), perOp(cpuTime()-before, writes))
	if err := receiver.Wait(); err != nil {
		log.Fatal(err)
	}
}

// receiveAll connects n sockets to addr, shares them out over readers
// epoll loops, and prints the delays of what arrives within duration.
func receiveAll(addr string, n, readers int, duration time.Duration) {
	epolls := make([]int, readers)
	for i := range epolls {
		fd, err := syscall.EpollCreate1(0)
		if err != nil {
			log.Fatal(err)
		}
		epolls[i] = fd
	}
	for i := range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		fd := detach(conn)
		event := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
		if err := syscall.EpollCtl(epolls[i%readers], syscall.EPOLL_CTL_ADD, fd, &event); err != nil {
			log.Fatal(err)
		}
	}
	before := cpuTime()
	delays := make([][]time.Duration, readers)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i, epoll := range epolls {
		wg.Go(func() {
			runtime.LockOSThread()
			delays[i] = readUntil(epoll, deadline)
		})
	}
	wg.Wait()
	all := slices.Concat(delays...)
	if len(all) == 0 {
		log.Fatal("receiver: nothing arrived")
	}
	slices.Sort(all)
	at := func(q float64) time.Duration { return all[int(q*float64(len(all)-1))].Round(100 * time.Microsecond) }
	fmt.Printf("receiver  %d deliveries, %.2f CPU-µs/delivery; delay p50 %v p90 %v p99 %v max %v\n",
		len(all), perOp(cpuTime()-before, len(all)), at(0.5), at(0.9), at(0.99), at(1))
}

// readUntil reads the sockets of epoll until deadline and returns each
// frame's delay.
func readUntil(epoll int, deadline time.Time) []time.Duration {
	var delays []time.Duration
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for time.Now().Before(deadline) {
		ready, err := syscall.EpollWait(epoll, events, 100)
		if err != nil && err != syscall.EINTR {
			log.Fatal(err)
		}
		for _, event := range events[:max(ready, 0)] {
			got, _ := syscall.Read(int(event.Fd), buf)
			now := time.Now().UnixNano()
			for off := 0; off+frameSize <= got; off += frameSize {
				delays = append(delays, time.Duration(now-int64(binary.LittleEndian.Uint64(buf[off:]))))
			}
		}
	}
	return delays
}

// detach returns a non-blocking descriptor of conn's socket that the Go
// runtime's poller does not watch, and closes conn's own.
func detach(conn net.Conn) int {
	file, err := conn.(*net.TCPConn).File()
	if err != nil {
		log.Fatal(err)
	}
	fd, err := syscall.Dup(int(file.Fd()))
	if err != nil {
		log.Fatal(err)
	}
	file.Close()
	conn.Close()
	if err := syscall.SetNonblock(fd, true); err != nil {
		log.Fatal(err)
	}
	return fd
}

// cpuTime is the CPU time, user and system, this process has used.
func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		log.Fatal(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// perOp is CPU time per operation in µs.
func perOp(cpu time.Duration, ops int) float64 {
	return float64(cpu) / float64(time.Microsecond) / float64(max(ops, 1))
}
