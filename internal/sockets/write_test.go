package sockets

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestTryWriteKeepsOrder: what a non-blocking write leaves pending goes
// out before anything written after it, so a control frame cannot land
// inside a data frame.
func TestTryWriteKeepsOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	w := newConnWriter(server)
	big := bytes.Repeat([]byte("d"), 32<<20) // more than the sockets take at once
	if w.tryWrite(big) != tryPending {
		t.Fatal("32 MiB went out without blocking; the test needs a partial write")
	}
	wrote := make(chan error, 1)
	go func() { _, err := w.writeWithin([]byte("CTRL"), writeTimeout); wrote <- err }()

	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(big)+4)
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(big)], big) || string(got[len(big):]) != "CTRL" {
		t.Fatal("bytes written after a partial write overtook its tail")
	}
}
