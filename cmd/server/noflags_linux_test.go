package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/coder/websocket"
	"github.com/hotpot-rt/hotpot/internal/servertest"
)

// TestNoFlags: the server started with no flags and no HOTPOT_* variable
// serves a working node on its default addresses, WebSocket and REST on
// 127.0.0.1:8848, TCP on 127.0.0.1:8849. So that those ports are free
// whatever else runs here, the test binary runs itself again in network
// and user namespaces of its own, where it starts the server and talks
// to it (noFlagsChild); without namespaces the test is skipped.
func TestNoFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), noFlagsServerEnv+"="+servertest.Binary(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		if os.Getenv("CI") != "" { // CI runs every test
			t.Fatalf("no network namespace of its own for the server: %v", err)
		}
		t.Skipf("no network namespace of its own for the server: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the node started with no flags: %v\n%s", err, out.Bytes())
	}
}

// noFlagsChild runs in the namespaces of TestNoFlags: it brings up the
// loopback interface, starts the server at bin with no flags and no
// HOTPOT_* variable, and checks that it works; then stops it with
// SIGTERM. It returns the exit code of the child process.
func noFlagsChild(bin string) int {
	if err := noFlagsCheck(bin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func noFlagsCheck(bin string) error {
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOTPOT_") && !strings.HasPrefix(kv, noFlagsServerEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	var log bytes.Buffer
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.Write(append(sc.Bytes(), '\n'))
			if strings.Contains(sc.Text(), `msg="hotpot ready"`) {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			return fmt.Errorf("the server ended before it was ready: %s", log.String())
		}
	case <-time.After(20 * time.Second):
		return errors.New("the server was not ready after 20 s")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	echo := []byte(`{"type":"Echo","data":{"Message":"你好"}}`)
	for _, path := range []string{"/ws", "/"} {
		ws, _, err := websocket.Dial(ctx, "ws://127.0.0.1:8848"+path, nil)
		if err != nil {
			return fmt.Errorf("WebSocket at %s: %w", path, err)
		}
		if _, welcome, err := ws.Read(ctx); err != nil || !bytes.Contains(welcome, []byte(`"interval_ms":5000,"limit_ms":12000`)) {
			return fmt.Errorf("WebSocket at %s: Welcome %s, %v", path, welcome, err)
		}
		ws.Write(ctx, websocket.MessageText, echo)
		_, got, err := ws.Read(ctx)
		ws.CloseNow()
		if err != nil || !bytes.Equal(got, echo) {
			return fmt.Errorf("WebSocket at %s: echo %s, %v", path, got, err)
		}
	}
	tcp, err := net.Dial("tcp", "127.0.0.1:8849")
	if err != nil {
		return fmt.Errorf("TCP: %w", err)
	}
	defer tcp.Close()
	tcp.SetDeadline(time.Now().Add(10 * time.Second))
	in := bufio.NewReader(tcp)
	readFrame := func() ([]byte, error) {
		var hdr [2]byte
		if _, err := io.ReadFull(in, hdr[:]); err != nil {
			return nil, err
		}
		b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		_, err := io.ReadFull(in, b)
		return b, err
	}
	if welcome, err := readFrame(); err != nil || !bytes.Contains(welcome, []byte(`"type":"Welcome"`)) {
		return fmt.Errorf("TCP: Welcome %s, %v", welcome, err)
	}
	tcp.Write(binary.BigEndian.AppendUint16(nil, uint16(len(echo))))
	tcp.Write(echo)
	if got, err := readFrame(); err != nil || !bytes.Equal(got, echo) {
		return fmt.Errorf("TCP: echo %s, %v", got, err)
	}
	// REST on loopback needs no API key: the TCP agent gets a broadcast.
	resp, err := http.Post("http://127.0.0.1:8848/broadcast", "application/json", strings.NewReader(`{"type":"Hi"}`))
	if err != nil {
		return fmt.Errorf("POST /broadcast: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /broadcast: %s %s, want 200", resp.Status, body)
	}
	if got, err := readFrame(); err != nil || !bytes.Contains(got, []byte(`"type":"Hi"`)) {
		return fmt.Errorf("TCP: %s, %v; want the broadcast", got, err)
	}

	tcp.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("after SIGTERM: %v\n%s", err, log.String())
	}
	return nil
}

// loopbackUp sets the loopback interface of the network namespace up, as
// `ip link set lo up` does: a new namespace's is down.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifreq [40]byte // struct ifreq: the name, then the flags
	copy(ifreq[:], "lo")
	for _, req := range []uintptr{syscall.SIOCGIFFLAGS, syscall.SIOCSIFFLAGS} {
		if req == syscall.SIOCSIFFLAGS {
			flags := binary.NativeEndian.Uint16(ifreq[16:]) | syscall.IFF_UP
			binary.NativeEndian.PutUint16(ifreq[16:], flags)
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ifreq[0]))); errno != 0 {
			return errno
		}
	}
	return nil
}
