package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
)

// echoRun measures Echo round trips: each client sends an Echo frame,
// waits for the node to send it back, and sends the next.
type echoRun struct {
	dial    dialFlags
	clients int
	dur     time.Duration
	size    int
	meter   meter
}

func setupEcho(fs *flag.FlagSet) runFunc {
	r := &echoRun{}
	r.dial.register(fs)
	fs.IntVar(&r.clients, "c", 100, "clients, each with one Echo in flight")
	fs.DurationVar(&r.dur, "d", 10*time.Second, "how long to send, once all clients have connected")
	fs.IntVar(&r.size, "size", 100, "approximate size of one Echo frame in bytes")
	r.meter.register(fs)
	return r.run
}

func (r *echoRun) run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	switch {
	case r.clients < 1:
		return fmt.Errorf("-c %d: want at least 1", r.clients)
	case r.dur <= 0:
		return fmt.Errorf("-d %v: must be positive", r.dur)
	}
	proto, err := r.dial.protocol()
	if err != nil {
		return err
	}
	frame, err := echoFrame(proto.codec, r.size)
	if err != nil {
		return err
	}
	log.Info("connecting", "url", r.dial.urls.String(), "clients", r.clients)
	agents, err := dialAll(ctx, proto, r.clients)
	if err != nil {
		return err
	}

	window, cancel := context.WithTimeout(ctx, r.dur)
	defer cancel()
	parts := make([]latencies, len(agents))
	var errs failures
	var wg sync.WaitGroup
	if err := r.meter.begin(log, "for", r.dur, "frame_bytes", len(frame)); err != nil {
		return err
	}
	start := time.Now()
	for i, a := range agents {
		wg.Go(func() { parts[i] = echoClient(window, a, frame, &errs) })
	}
	<-window.Done()
	elapsed := time.Since(start)
	serverCPU, err := r.meter.end(log)
	wg.Wait()
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "clients      %d, frame %d bytes\n", len(agents), len(frame))
	s := summarize(parts)
	s.report(out, elapsed)
	fmt.Fprintf(out, "errors       %s\n", &errs)
	result{Mode: "echo", Ops: int64(s.count), PerSecond: perSecond(int64(s.count), elapsed),
		P50MS: ms(s.p50), P99MS: ms(s.p99), Failed: errs.count()}.write(out, serverCPU)
	if errs.count() > 0 {
		return errors.New("some round trips failed")
	}
	return nil
}

// echoFrame returns an Echo frame of about size bytes, padded with data.
func echoFrame(c codec.Codec, size int) ([]byte, error) {
	build := func(pad int) ([]byte, error) {
		data, err := c.Data(codec.Payload{JSON: []byte(`"` + strings.Repeat("x", pad) + `"`)})
		if err != nil {
			return nil, err
		}
		return c.Encode(codec.Envelope{Type: "Echo", Data: data})
	}
	bare, err := build(0)
	if err != nil {
		return nil, fmt.Errorf("encoding Echo: %w", err)
	}
	return build(max(size-len(bare), 0))
}

// echoClient makes round trips with frame on a until window ends or a
// round trip fails, then closes a. It returns the round trips' durations;
// failures are added to errs.
func echoClient(window context.Context, a *agent, frame []byte, errs *failures) latencies {
	// stop ends this client alone when it fails.
	stop, cancel := context.WithCancel(window)
	defer cancel()
	// One Echo is in flight at a time, so one frame can be waiting; a
	// frame beyond it is unexpected.
	received := make(chan []byte, 1)
	served := make(chan struct{})
	var serveErr error
	go func() {
		defer close(served)
		serveErr = a.serve(stop, func(env codec.Envelope, f []byte) {
			select {
			case received <- f:
			default:
				errs.add(fmt.Errorf("unexpected %s frame", env.Type))
			}
		})
	}()

	var lat latencies
	var failure error
loop:
	for stop.Err() == nil {
		sent := time.Now()
		if err := a.write(frame); err != nil {
			failure = fmt.Errorf("sending Echo: %w", err)
			break
		}
		select {
		case got := <-received:
			if !bytes.Equal(got, frame) {
				failure = fmt.Errorf("sent Echo, got back %.120q", got)
				break loop
			}
			lat.add(time.Since(sent))
		case <-served:
			break loop
		case <-stop.Done():
		}
	}
	cancel()
	<-served
	// Once the window has ended, a failed write or a closed connection is
	// the run closing it.
	switch {
	case failure != nil && window.Err() == nil:
		errs.add(failure)
	case serveErr != nil:
		errs.add(serveErr)
	}
	return lat
}
