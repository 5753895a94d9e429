package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hotpot-rt/hotpot/internal/servertest"
	"github.com/hotpot-rt/hotpot/internal/testcert"
)

// testCertificate writes a certificate for 127.0.0.1 to dir and returns its
// files and a pool that trusts it.
func testCertificate(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certs, err := testcert.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pool, err = certs.Pool(); err != nil {
		t.Fatal(err)
	}
	return certs.Cert, certs.Key, pool
}

// TestTLSOnBothListeners serves wss:// and TLS TCP with --tls-cert and
// --tls-key: the seed's echo works on both.
func TestTLSOnBothListeners(t *testing.T) {
	certFile, keyFile, pool := testCertificate(t, t.TempDir())
	p := servertest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile)
	tlsConfig := &tls.Config{RootCAs: pool}
	echo := `{"type":"Echo","data":{"Message":"secure"}}`
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ws, _, err := websocket.Dial(ctx, "wss://"+p.HTTPAddr+"/ws", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, welcome, err := ws.Read(ctx); err != nil || !strings.Contains(string(welcome), "Welcome") {
		t.Fatalf("wss welcome %s, %v", welcome, err)
	}
	ws.Write(ctx, websocket.MessageText, []byte(echo))
	if _, got, err := ws.Read(ctx); err != nil || string(got) != echo {
		t.Fatalf("wss echo %s, %v", got, err)
	}

	conn, err := tls.Dial("tcp", p.TCPAddr, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	in := bufio.NewReader(conn)
	readFrame := func() string {
		var hdr [2]byte
		if _, err := io.ReadFull(in, hdr[:]); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, int(hdr[0])<<8|int(hdr[1]))
		if _, err := io.ReadFull(in, b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if w := readFrame(); !strings.Contains(w, "Welcome") {
		t.Fatalf("tls tcp welcome %q", w)
	}
	conn.Write(append([]byte{0, byte(len(echo))}, echo...))
	if got := readFrame(); got != echo {
		t.Fatalf("tls tcp echo %q", got)
	}

	// Plain TCP on the TLS port gets nothing it can read as a frame.
	plain, err := net.Dial("tcp", p.TCPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.Write([]byte{0, 5, '{', '}', ' ', ' ', ' '})
	plain.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(plain); strings.Contains(string(b), "Welcome") {
		t.Fatal("plain TCP client was served on the TLS port")
	}
}

// TestSilentClientDoesNotFreezeTheTLSListener: a connection refused
// beyond --max-conns that never starts its TLS handshake does not hold up
// the TCP accept loop: once there is room again, a new agent is served at
// once.
func TestSilentClientDoesNotFreezeTheTLSListener(t *testing.T) {
	certFile, keyFile, pool := testCertificate(t, t.TempDir())
	p := servertest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile, "--max-conns", "1")
	tlsConfig := &tls.Config{RootCAs: pool}
	welcomed := func() (*tls.Conn, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", p.TCPAddr, tlsConfig)
		if err != nil {
			return nil, err
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		var hdr [2]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	first, err := welcomed()
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", p.TCPAddr) // over the limit, and says nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(100 * time.Millisecond) // let the node take it
	first.Close()
	eventually(t, 3*time.Second, "a new TLS agent is welcomed", func() bool {
		conn, err := welcomed()
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
}
