// Package redistest starts a redis-server of a test's own, for tests that
// need the real thing: on a free loopback port (never the shared 6379),
// in a temporary directory, with no persistence, and stopped when the test
// ends. It also lets a test kill, restart, freeze and thaw that server to
// see what its code does when Redis goes away. It is used only by tests.
package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotpot-rt/hotpot/internal/testcert"
)

const (
	// readyTimeout bounds how long a start waits for the server to
	// accept connections.
	readyTimeout = 10 * time.Second
	// pollInterval is the pause between two readiness probes.
	pollInterval = 10 * time.Millisecond
	// startAttempts is how many free ports Start tries when another
	// process takes the one it picked before redis-server binds it.
	startAttempts = 5
	// sharedPort is the port of a developer's own Redis, never used.
	sharedPort = 6379
)

// Option configures a Server.
type Option func(*Server)

// WithPassword makes the server require password (--requirepass).
func WithPassword(password string) Option {
	return func(s *Server) { s.password = password }
}

// Server is a redis-server a test started. Its methods are safe for
// concurrent use; they fail the test (t.Fatal) when the server does not
// do what they ask, so they must be called from the test's goroutine.
type Server struct {
	t        testing.TB
	bin      string // the redis-server executable
	dir      string // its working directory and log file's home
	password string
	tls      bool           // serve TLS only; see WithTLS
	certs    testcert.Files // with tls, the files it serves with
	cluster  bool           // a Redis Cluster node; see StartCluster

	mu   sync.Mutex // guards the fields below
	port int        // the port it listens on, fixed by the first start
	bus  int        // with cluster, its cluster bus port, fixed likewise
	proc *process   // the running server; nil once killed
}

// process is one run of redis-server.
type process struct {
	cmd *exec.Cmd
	// exited is closed once the process exited and was reaped.
	exited chan struct{}
}

// Start starts a redis-server for t, waits until it accepts connections,
// and kills it when t ends, failed or not. It fails t when redis-server
// is not on PATH: tests that need Redis do not skip.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redistest: redis-server is not on PATH; install it (apt-get install redis-server)")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	if s.tls && s.certs.CA == "" { // a cluster's nodes share theirs
		if s.certs, err = testcert.Write(s.dir); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	t.Cleanup(s.kill)
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err == nil && s.cluster {
			s.bus, err = freePort()
		}
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		err = s.start(port)
		if err == nil {
			s.port = port
			return s
		}
		// Another process may have bound the port between freePort and
		// redis-server's bind; try another one.
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			t.Fatalf("redistest: %v", err)
		}
	}
}

// Addr returns the server's host:port on loopback.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr()
}

func (s *Server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns redis://[:password@]127.0.0.1:port/0 (rediss:// with
// WithTLS), which redis.ParseURL reads.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr(), Path: "/0"}
	if s.tls {
		u.Scheme = "rediss"
	}
	if s.password != "" {
		u.User = url.UserPassword("", s.password)
	}
	return u.String()
}

// Kill kills the server with SIGKILL, as a crash would, and returns once
// it exited. Its clients see their connections reset; the port refuses
// connections until Restart.
func (s *Server) Kill() {
	s.kill()
}

// Restart kills the server if it runs and starts it again, empty, on the
// same port, and returns once it accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	s.kill()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.start(s.port); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// Stop freezes the server with SIGSTOP: it keeps its connections and
// port but answers nothing until Cont.
func (s *Server) Stop() { s.signal(syscall.SIGSTOP) }

// Cont thaws a server that Stop froze (SIGCONT).
func (s *Server) Cont() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redistest: %v: the server is not running", sig)
	}
	if err := s.proc.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v: %v", sig, err)
	}
}

// kill kills the running server, if any, and waits until it exited. A
// frozen server dies too: SIGKILL needs no cooperation.
func (s *Server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.cmd.Process.Kill() // fails only when it already exited
	<-s.proc.exited
	s.proc = nil
}

// errPortTaken means redis-server could not bind its port.
var errPortTaken = errors.New("port in use")

// start runs redis-server on port and waits until it answers. The caller
// holds mu and no server runs.
func (s *Server) start(port int) error {
	logFile := filepath.Join(s.dir, "redis.log")
	args := []string{"--port", strconv.Itoa(port)}
	if s.tls {
		args = s.tlsArgs(strconv.Itoa(port))
	}
	args = append(args,
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", logFile,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
	)
	if s.password != "" {
		args = append(args, "--requirepass", s.password)
	}
	if s.cluster {
		args = append(args, s.clusterArgs()...)
	}
	os.Remove(logFile) // each run's log tells only about that run
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	// The waiter is owned by p; it ends when the process does, which
	// kill (and the test's cleanup) makes sure of.
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	s.proc = p
	s.port = port
	addr := s.addr()
	var tlsConfig *tls.Config
	if s.tls {
		var err error
		if tlsConfig, err = s.clientTLS(); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(readyTimeout)
	for !answers(addr, tlsConfig) {
		select {
		case <-p.exited:
			s.proc = nil
			log, _ := os.ReadFile(logFile)
			err := fmt.Errorf("redis-server on port %d exited before it answered: %s", port, log)
			if strings.Contains(string(log), "Address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-time.After(pollInterval):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d did not answer within %v", port, readyTimeout)
		}
	}
	return nil
}

// answers reports whether a Redis server at addr answers a PING, with
// PONG or, when it wants a password, NOAUTH; over TLS when tlsConfig is
// not nil.
func answers(addr string, tlsConfig *tls.Config) bool {
	var conn net.Conn
	var err error
	dialer := &net.Dialer{Timeout: time.Second}
	if tlsConfig != nil {
		conn, err = tls.DialWithDialer(dialer, "tcp", addr, tlsConfig)
	} else {
		conn, err = dialer.Dial("tcp", addr)
	}
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return false
	}
	return strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port != sharedPort {
			return port, nil
		}
	}
}
