package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The misbehaviours of clients that never become agents: garbage and
// silence on the TCP port, slow requests on the HTTP port.

// dialRaw opens a plain TCP connection to addr, from the address from
// when not empty, within the dial timeout.
func (e *misbehaveEnv) dialRaw(ctx context.Context, addr, from string) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: e.proto.timeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	return conn, bufio.NewReader(conn), nil
}

// garbage returns what a tcp-garbage misbehaver sends on attempt i: an
// HTTP request, the start of a TLS ClientHello, random bytes, or an empty
// frame.
func (e *misbehaveEnv) garbage(i int) []byte {
	switch i % 4 {
	case 0:
		return []byte("GET / HTTP/1.1\r\nHost: " + e.tcpAddr + "\r\nUpgrade: websocket\r\n\r\n")
	case 1:
		return []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}
	case 2:
		return []byte(rand.Text() + rand.Text() + rand.Text())
	}
	return e.framing.prefix(nil, 0, nil)
}

// tcpGarbage connects to the TCP port, sends garbage where the Auth frame
// should be, and waits for the node to refuse it.
func (m *misbehaver) tcpGarbage(ctx context.Context) {
	if m.env.tcpAddr == "" {
		return
	}
	m.again(ctx, func(i int) {
		conn, br, err := m.env.dialRaw(ctx, m.env.tcpAddr, "")
		if err != nil {
			m.odd(ctx, "dial: %w", err)
			return
		}
		defer conn.Close()
		conn.Write(m.env.garbage(i))
		t := readFrames(ctx, conn, br, m.env.framing, nil)
		if t.others > 0 {
			m.odd(ctx, "garbage %d was let in", i%4)
		}
		t.record(m.stats, "")
	})
}

// preauthHold keeps holdConns TCP connections open that never send Auth,
// each reopened when the node closes it.
func (m *misbehaver) preauthHold(ctx context.Context) {
	if m.env.tcpAddr == "" {
		return
	}
	var wg sync.WaitGroup
	for range m.env.holdConns {
		wg.Go(func() {
			m.again(ctx, func(int) {
				conn, br, err := m.env.dialRaw(ctx, m.env.tcpAddr, m.env.preauthFrom)
				if err != nil {
					m.odd(ctx, "dial: %w", err)
					return
				}
				defer conn.Close()
				readFrames(ctx, conn, br, m.env.framing, nil).record(m.stats, "")
			})
		})
	}
	wg.Wait()
}

// slowWait bounds how long a slow-body misbehaver waits for the node to
// answer or close.
const slowWait = 30 * time.Second

// slowBody keeps holdConns HTTP connections open to the REST port, each
// sending a request one byte a second: the body of a push, or, every
// other time, its headers.
func (m *misbehaver) slowBody(ctx context.Context) {
	u, err := url.Parse(m.env.api.url)
	if err != nil || u.Scheme != "http" {
		m.odd(ctx, "-api %q: slow-body needs an http:// URL", m.env.api.url)
		return
	}
	var wg sync.WaitGroup
	for c := range m.env.holdConns {
		wg.Go(func() {
			m.again(ctx, func(i int) { m.slowRequest(ctx, u.Host, (c+i)%2 == 1) })
		})
	}
	wg.Wait()
}

// slowRequest sends one request to host one byte a second, its headers
// when slowHeaders, else its body, and records how the node answered.
func (m *misbehaver) slowRequest(ctx context.Context, host string, slowHeaders bool) {
	conn, br, err := m.env.dialRaw(ctx, host, "")
	if err != nil {
		m.odd(ctx, "dial: %w", err)
		return
	}
	defer conn.Close()
	head := "POST /agents/soak-slow-body/events HTTP/1.1\r\nHost: " + host +
		"\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n"
	if m.env.api.key != "" {
		head += "Authorization: Bearer " + m.env.api.key + "\r\n"
	}
	head += "\r\n"
	// All but the slow part goes at once; a JSON decoder waits for more
	// after "{" and any whitespace.
	first := head + "{"
	if slowHeaders {
		first = head[:16]
	}
	conn.Write([]byte(first))
	next := len(first) // of head, when slowHeaders
	answer := make(chan string, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(slowWait))
		line, err := br.ReadString('\n')
		switch f := strings.Fields(line); {
		case len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/"):
			answer <- "HTTP " + f[1]
		case err != nil && endOf(err) == "timeout":
			answer <- "timeout"
		case err != nil:
			answer <- "closed without an answer"
		default:
			answer <- fmt.Sprintf("answered %.40q", line)
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case a := <-answer:
			if a == "timeout" {
				m.odd(ctx, "no answer to a slow request within %v", slowWait)
				return
			}
			if slowHeaders {
				m.stats.saw("headers: "+a, 1)
			} else {
				m.stats.saw("body: "+a, 1)
			}
			return
		case <-ctx.Done():
			conn.Close()
			<-answer
			return
		case <-tick.C:
		}
		switch {
		case !slowHeaders:
			conn.Write([]byte(" "))
		case next < len(head):
			conn.Write([]byte{head[next]})
			next++
		}
	}
}
