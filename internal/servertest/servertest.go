// Package servertest runs real hotpot server processes for tests: the
// binary of cmd/server, built once per test binary with the test run's own
// race setting, on ephemeral loopback ports.
package servertest

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	binary    string
	buildErr  error
)

// Binary returns the path of the server built from cmd/server, building it
// on the first call. Cleanup removes it.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "hotpot-servertest")
		if buildErr != nil {
			return
		}
		binary = filepath.Join(buildDir, "hotpot")
		args := []string{"build", "-o", binary}
		if raceEnabled {
			args = append(args, "-race")
		}
		build := exec.Command("go", append(args, "github.com/hotpot-rt/hotpot/cmd/server")...)
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = err
			binary = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the server: %v\n%s", buildErr, binary)
	}
	return binary
}

// Cleanup removes the binary Binary built; TestMain calls it after the tests.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Process is a running server.
type Process struct {
	cmd *exec.Cmd
	// HTTPAddr and TCPAddr are the addresses the server listens on.
	HTTPAddr, TCPAddr string
	// exited is closed when the process has exited and been waited for;
	// waitErr is then what the wait returned.
	exited  chan struct{}
	waitErr error

	logMu sync.Mutex
	log   strings.Builder
}

// Start runs the server with args after ephemeral loopback listeners (a
// later --http or --tcp in args wins) and waits until it says it is ready.
// It is killed when the test ends; its log is shown if the test failed.
func Start(t testing.TB, args ...string) *Process {
	t.Helper()
	all := append([]string{"--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(Binary(t), all...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{ HTTP, TCP string }, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logMu.Lock()
			p.log.Write(sc.Bytes())
			p.log.WriteByte('\n')
			p.logMu.Unlock()
			var line struct{ Msg, HTTP, TCP string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "hotpot ready" {
				ready <- struct{ HTTP, TCP string }{line.HTTP, line.TCP}
			}
		}
		io.Copy(io.Discard, stderr)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("log of the server started with %v:\n%s", args, p.Log())
		}
	})
	select {
	case addrs := <-ready:
		p.HTTPAddr, p.TCPAddr = addrs.HTTP, addrs.TCP
		return p
	case <-p.exited:
		t.Fatalf("the server started with %v exited:\n%s", args, p.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("the server started with %v did not become ready:\n%s", args, p.Log())
	}
	return nil
}

// URL returns the server's base URL, http://host:port.
func (p *Process) URL() string { return "http://" + p.HTTPAddr }

// Request sends one REST request with a JSON body (which may be empty)
// to the server and returns the status and the body of the answer.
func (p *Process) Request(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, p.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Log returns what the server has logged so far.
func (p *Process) Log() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

// LogLine is the part of a line of the server's JSON log that tests look at.
type LogLine struct {
	Level, Msg string
}

// Logged reports whether a line the server has logged so far matches.
func (p *Process) Logged(match func(LogLine) bool) bool {
	for line := range strings.Lines(p.Log()) {
		var l LogLine
		if json.Unmarshal([]byte(line), &l) == nil && match(l) {
			return true
		}
	}
	return false
}

// Pid returns the server's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the server.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits until the server has exited and returns how it ended, as
// exec.Cmd.Wait does.
func (p *Process) Wait() error {
	<-p.exited
	return p.waitErr
}

// Stop sends SIGTERM and waits, up to timeout, for the process to exit.
// It reports whether it exited in time.
func (p *Process) Stop(timeout time.Duration) bool {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Kill kills the process at once and waits for it to exit.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}
