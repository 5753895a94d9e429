package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotpot-rt/hotpot/client"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// noFlagsServerEnv names the variable that makes the test binary run
// noFlagsChild with the server it holds, instead of the tests.
const noFlagsServerEnv = "NOFLAGS_TEST_SERVER"

func TestMain(m *testing.M) {
	if bin, ok := os.LookupEnv(noFlagsServerEnv); ok {
		os.Exit(noFlagsChild(bin))
	}
	code := m.Run()
	servertest.Cleanup()
	os.Exit(code)
}

func TestSIGTERMKicksAgentsAndExitsZero(t *testing.T) {
	p := servertest.Start(t, "--node-id", "n1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ws, _, err := websocket.Dial(ctx, "ws://"+p.HTTPAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	tcp, err := net.Dial("tcp", p.TCPAddr)
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

	if err := p.Signal(syscall.SIGTERM); err != nil {
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
	go func() { done <- p.Wait() }()
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
		out, err := exec.CommandContext(ctx, servertest.Binary(t), append([]string{"--http", "127.0.0.1:0", "--tcp", ""}, args...)...).CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("%v: %v (%s), want exit status 2", args, err, out)
		}
	}
}

func TestEnvConfiguresServer(t *testing.T) {
	cmd := exec.Command(servertest.Binary(t), "--http", "127.0.0.1:0", "--tcp", "")
	cmd.Env = append(os.Environ(), "HOTPOT_KEEPALIVE_INTERVAL=50", "HOTPOT_TCP=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "HOTPOT_KEEPALIVE_INTERVAL") {
		t.Fatalf("bad env value accepted: %v %s", err, out)
	}
}

// TestDevModeIsLogged: without --jwt-secret the node warns that any
// client may pick any agent id; with one it does not.
func TestDevModeIsLogged(t *testing.T) {
	devMode := func(l servertest.LogLine) bool {
		return l.Level == "WARN" && strings.Contains(l.Msg, "anonymous dev mode")
	}
	if p := servertest.Start(t); !p.Logged(devMode) {
		t.Errorf("no dev-mode warning without --jwt-secret; the log:\n%s", p.Log())
	}
	if p := servertest.Start(t, "--jwt-secret", strings.Repeat("s", 32)); p.Logged(devMode) {
		t.Errorf("a dev-mode warning with --jwt-secret; the log:\n%s", p.Log())
	}
}

// TestTCPCanBeDisabled: with --tcp "" the node serves WebSocket alone.
func TestTCPCanBeDisabled(t *testing.T) {
	p := servertest.Start(t, "--tcp", "")
	if p.TCPAddr != "" {
		t.Fatalf("TCP listening on %s", p.TCPAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+p.HTTPAddr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.CloseNow()
}

// hang sends agent a Hang call, which it never answers, through p's REST
// API in the background: the channel gets the call's status (0 when it
// got none) once the node answers it.
func hang(t *testing.T, p *servertest.Process, agent string) <-chan int {
	calling := make(chan int, 1)
	go func() {
		res, err := api(t, p).CallAgentWithResponse(context.Background(), agent, client.CallRequest{Type: "Hang", TimeoutMs: ptr(20000)})
		if err != nil {
			calling <- 0
			return
		}
		calling <- res.StatusCode()
	}()
	return calling
}

// TestDrainKeepsServingRESTAndRefusesAgents: on SIGTERM, while a call
// drains, /readyz answers 503 (not connection refused), REST keeps
// serving, and a new WebSocket agent is refused with 503.
func TestDrainKeepsServingRESTAndRefusesAgents(t *testing.T) {
	p := servertest.Start(t, "--node-id", "drainer", "--drain-timeout", "3s")
	dialAgent(t, p, "hanger") // never answers a Hang
	calling := hang(t, p, "hanger")
	eventually(t, 5*time.Second, "the call is in flight", func() bool {
		metrics, err := api(t, p).MetricsWithResponse(t.Context())
		return err == nil && strings.Contains(string(metrics.Body), "hotpot_frames_out_total{transport=\"ws\"} 2")
	})
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "/readyz answers 503 while draining", func() bool {
		res, err := api(t, p).ReadyzWithResponse(t.Context())
		return err == nil && res.StatusCode() == http.StatusServiceUnavailable
	})
	if res, err := api(t, p).GetAgentWithResponse(t.Context(), "hanger"); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("REST while draining: %v %v, want 200", err, res.Status())
	}
	_, resp, err := websocket.Dial(t.Context(), "ws://"+p.HTTPAddr+"/ws?id=late", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a new agent while draining: %v %v, want 503", err, resp)
	}
	// A new TCP agent is refused too: no connection, or one closed
	// without a Welcome.
	if tcp, err := net.DialTimeout("tcp", p.TCPAddr, 5*time.Second); err == nil {
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
