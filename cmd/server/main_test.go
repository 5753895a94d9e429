package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/client"
)

// serverBin is the server built once for the tests in this file.
var serverBin string

// noFlagsServerEnv names the variable that makes the test binary run
// noFlagsChild with the server it holds, instead of the tests.
const noFlagsServerEnv = "NOFLAGS_TEST_SERVER"

func TestMain(m *testing.M) {
	if bin, ok := os.LookupEnv(noFlagsServerEnv); ok {
		os.Exit(noFlagsChild(bin))
	}
	dir, err := os.MkdirTemp("", "hotpot-server-test")
	if err != nil {
		panic(err)
	}
	serverBin = filepath.Join(dir, "hotpot")
	args := []string{"build", "-o", serverBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building the server: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running server binary.
type process struct {
	cmd               *exec.Cmd
	httpAddr, tcpAddr string
	log               *processLog
}

// processLog is what a process has logged so far, as JSON lines.
type processLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *processLog) add(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(line)
	l.b.WriteByte('\n')
}

func (l *processLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logLine is a line of a process's log.
type logLine struct {
	Level, Msg string
}

// logged reports whether a line the process has logged so far matches.
func (p *process) logged(match func(logLine) bool) bool {
	for line := range strings.Lines(p.log.String()) {
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil && match(l) {
			return true
		}
	}
	return false
}

// startProcess runs the server with args plus ephemeral loopback ports and
// waits until it says it is ready. Its log is shown when the test fails.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(serverBin, append([]string{"--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := &processLog{}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("log of %v:\n%s", args, log.String())
		}
	})
	ready := make(chan *process, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.add(sc.Bytes())
			var line struct{ Msg, HTTP, TCP string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "hotpot ready" {
				ready <- &process{cmd: cmd, httpAddr: line.HTTP, tcpAddr: line.TCP, log: log}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case p := <-ready:
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("server did not become ready")
		return nil
	}
}

func TestSIGTERMKicksAgentsAndExitsZero(t *testing.T) {
	p := startProcess(t, "--node-id", "n1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ws, _, err := websocket.Dial(ctx, "ws://"+p.httpAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	tcp, err := net.Dial("tcp", p.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()

	// Both are served: the seed's echo comes back.
	echo := `{"type":"Echo","data":{"Message":"hi"}}`
	if _, welcome, err := ws.Read(ctx); err != nil || !strings.Contains(string(welcome), `"node":"n1"`) {
		t.Fatalf("welcome %s, %v", welcome, err)
	}
	ws.Write(ctx, websocket.MessageText, []byte(echo))
	if _, got, err := ws.Read(ctx); err != nil || string(got) != echo {
		t.Fatalf("echo %s, %v", got, err)
	}
	tcpIn := bufio.NewReader(tcp)
	readTCP := func() (string, error) {
		tcp.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hdr [2]byte
		if _, err := io.ReadFull(tcpIn, hdr[:]); err != nil {
			return "", err
		}
		b := make([]byte, int(hdr[0])<<8|int(hdr[1]))
		_, err := io.ReadFull(tcpIn, b)
		return string(b), err
	}
	if w, err := readTCP(); err != nil || !strings.Contains(w, "Welcome") {
		t.Fatalf("tcp welcome %q, %v", w, err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	kicked := `{"type":"Kicked","data":{"reason":"shutdown"}}`
	if _, got, err := ws.Read(ctx); err != nil || string(got) != kicked {
		t.Fatalf("ws got %s, %v; want %s", got, err, kicked)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("ws closed with %v, want 1001", err)
	}
	if got, err := readTCP(); err != nil || got != kicked {
		t.Fatalf("tcp got %q, %v", got, err)
	}
	if _, err := readTCP(); !errors.Is(err, io.EOF) {
		t.Fatalf("tcp after Kicked: %v, want EOF", err)
	}
	tcp.Close()

	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v, want status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
}

func TestBadFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"--tcp-len-bytes", "3"},
		{"--no-such-flag"},
		{"--jwt-secret", "31-bytes-are-one-too-few-for-it"},
		{"--rate-burst", "0"},
	} {
		// Ephemeral ports and a deadline: a flag wrongly accepted fails
		// the test at once instead of serving on 8848 until the timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, serverBin, append([]string{"--http", "127.0.0.1:0", "--tcp", ""}, args...)...).CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("%v: %v (%s), want exit status 2", args, err, out)
		}
	}
}

func TestEnvConfiguresServer(t *testing.T) {
	cmd := exec.Command(serverBin, "--http", "127.0.0.1:0", "--tcp", "")
	cmd.Env = append(os.Environ(), "HOTPOT_KEEPALIVE_INTERVAL=50", "HOTPOT_TCP=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "HOTPOT_KEEPALIVE_INTERVAL") {
		t.Fatalf("bad env value accepted: %v %s", err, out)
	}
}

// TestDevModeIsLogged: without --jwt-secret the node warns that any
// client may pick any agent id; with one it does not.
func TestDevModeIsLogged(t *testing.T) {
	devMode := func(l logLine) bool { return l.Level == "WARN" && strings.Contains(l.Msg, "anonymous dev mode") }
	if p := startProcess(t); !p.logged(devMode) {
		t.Errorf("no dev-mode warning without --jwt-secret; the log:\n%s", p.log)
	}
	if p := startProcess(t, "--jwt-secret", strings.Repeat("s", 32)); p.logged(devMode) {
		t.Errorf("a dev-mode warning with --jwt-secret; the log:\n%s", p.log)
	}
}

// TestTCPCanBeDisabled: with --tcp "" the node serves WebSocket alone.
func TestTCPCanBeDisabled(t *testing.T) {
	p := startProcess(t, "--tcp", "")
	if p.tcpAddr != "" {
		t.Fatalf("TCP listening on %s", p.tcpAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+p.httpAddr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.CloseNow()
}

// TestDrainKeepsServingRESTAndRefusesAgents: on SIGTERM, while a call
// drains, /readyz answers 503 (not connection refused), REST keeps
// serving, and a new WebSocket agent is refused with 503.
func TestDrainKeepsServingRESTAndRefusesAgents(t *testing.T) {
	p := startProcess(t, "--node-id", "drainer", "--drain-timeout", "3s")
	dialAgent(t, p, "hanger") // never answers a Hang
	calling := make(chan int, 1)
	go func() {
		res, err := p.api(t).CallAgentWithResponse(context.Background(), "hanger", client.CallRequest{Type: "Hang", TimeoutMs: ptr(20000)})
		if err != nil {
			calling <- 0
			return
		}
		calling <- res.StatusCode()
	}()
	eventually(t, 5*time.Second, "the call is in flight", func() bool {
		metrics, err := p.api(t).MetricsWithResponse(t.Context())
		return err == nil && strings.Contains(string(metrics.Body), "hotpot_frames_out_total{transport=\"ws\"} 2")
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "/readyz answers 503 while draining", func() bool {
		res, err := p.api(t).ReadyzWithResponse(t.Context())
		return err == nil && res.StatusCode() == http.StatusServiceUnavailable
	})
	if res, err := p.api(t).GetAgentWithResponse(t.Context(), "hanger"); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("REST while draining: %v %v, want 200", err, res.Status())
	}
	_, resp, err := websocket.Dial(t.Context(), "ws://"+p.httpAddr+"/ws?id=late", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a new agent while draining: %v %v, want 503", err, resp)
	}
	// A new TCP agent is refused too: no connection, or one closed
	// without a Welcome.
	if tcp, err := net.DialTimeout("tcp", p.tcpAddr, 5*time.Second); err == nil {
		tcp.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(tcp)
		tcp.Close()
		if err != nil || strings.Contains(string(got), "Welcome") {
			t.Fatalf("a new TCP agent while draining: %q, %v; want it refused", got, err)
		}
	}
	if status := <-calling; status != http.StatusServiceUnavailable {
		t.Fatalf("the call still unanswered when the drain ended: %d, want 503", status)
	}
}
