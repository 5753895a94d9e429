package pubsub

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisMonitor records every command a redis-server runs, by MONITOR on
// a connection of its own, until stop (or the end of the test).
type redisMonitor struct {
	conn  net.Conn
	lines chan []string // the lines read, once the connection ends
}

func startMonitor(t *testing.T, addr string) *redisMonitor {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	if ok, err := br.ReadString('\n'); err != nil || ok != "+OK\r\n" {
		t.Fatalf("MONITOR: %q %v", ok, err)
	}
	t.Cleanup(func() { conn.Close() })
	m := &redisMonitor{conn: conn, lines: make(chan []string, 1)}
	go func() {
		var lines []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				m.lines <- lines
				return
			}
			lines = append(lines, strings.TrimSuffix(line, "\r\n"))
		}
	}()
	return m
}

// stop ends the monitor and returns the lines it read, each "+<time>
// [<db> <client>] "<arg>" …".
func (m *redisMonitor) stop() []string {
	m.conn.Close()
	return <-m.lines
}

// checkFitsRedisCluster fails t unless the commands MONITOR saw (lines)
// assume nothing of one server (DESIGN §7): none scans the keyspace
// (KEYS, SCAN), and every command, MULTI block or script that touches
// several keys touches keys of one hash slot, as Redis Cluster requires.
// Redis at url names each command's keys (COMMAND GETKEYS).
func checkFitsRedisCluster(t *testing.T, url string, lines []string) {
	t.Helper()
	if len(lines) < 100 {
		t.Fatalf("MONITOR saw %d commands; it should have seen a whole test suite", len(lines))
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	keysOf := redis.NewClient(opts)
	defer keysOf.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// slotsIn[client] gathers the slots of a client's MULTI block.
	slotsIn := map[string]map[int][]string{}
	checked := 0
	for _, line := range lines {
		client, args, err := parseMonitorLine(line)
		if err != nil {
			t.Fatalf("%v in %q", err, line)
		}
		name := strings.ToUpper(args[0])
		switch {
		case name == "KEYS" || name == "SCAN":
			t.Errorf("the keyspace is scanned: %s", line)
		case name == "MULTI":
			slotsIn[client] = map[int][]string{}
			continue
		case name == "EXEC" || name == "DISCARD":
			if len(slotsIn[client]) > 1 {
				t.Errorf("a MULTI block of %s touches %d hash slots: %v", client, len(slotsIn[client]), slotsIn[client])
			}
			delete(slotsIn, client)
			continue
		case client == "lua": // run by a script: its keys were checked on EVAL
			continue
		}
		getKeys := append([]any{"COMMAND", "GETKEYS"}, stringsToAny(args)...)
		keys, err := keysOf.Do(ctx, getKeys...).StringSlice()
		if err != nil {
			continue // a command without keys
		}
		checked++
		slots := map[int][]string{}
		for _, k := range keys {
			slots[hashSlot(k)] = append(slots[hashSlot(k)], k)
			if block := slotsIn[client]; block != nil {
				block[hashSlot(k)] = append(block[hashSlot(k)], k)
			}
		}
		if len(slots) > 1 {
			t.Errorf("one command touches %d hash slots: %s", len(slots), line)
		}
	}
	if checked == 0 {
		t.Fatal("no command with keys was seen")
	}
}

// parseMonitorLine splits a MONITOR line into the client that sent the
// command ("lua" for a script) and its arguments, unquoted.
func parseMonitorLine(line string) (client string, args []string, err error) {
	open, end := strings.IndexByte(line, '['), strings.IndexByte(line, ']')
	if open < 0 || end < open {
		return "", nil, fmt.Errorf("no [db client]")
	}
	fields := strings.Fields(line[open+1 : end])
	client = fields[len(fields)-1]
	rest := line[end+1:]
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			break
		}
		arg, n, err := unquoteMonitorArg(rest)
		if err != nil {
			return "", nil, err
		}
		args, rest = append(args, arg), rest[n:]
	}
	if len(args) == 0 {
		return "", nil, fmt.Errorf("no command")
	}
	return client, args, nil
}

// unquoteMonitorArg reads one "…" argument as MONITOR escapes it
// (sdscatrepr) and returns it with the bytes it took.
func unquoteMonitorArg(s string) (string, int, error) {
	if s[0] != '"' {
		return "", 0, fmt.Errorf("argument not quoted")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("escape at the end")
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'x':
				if i+2 >= len(s) {
					return "", 0, fmt.Errorf("short \\x escape")
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", 0, err
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated argument")
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// hashSlot is the Redis Cluster slot of key: CRC16 (XMODEM) of its hash
// tag — the part between the first { and the next }, when not empty —
// or of the whole key, modulo 16384.
func hashSlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// TestHashSlot pins hashSlot to the slots Redis Cluster's specification
// gives.
func TestHashSlot(t *testing.T) {
	for key, want := range map[string]int{
		"123456789":       12739, // CRC16 check value 0x31C3
		"somekey":         11058, // CLUSTER KEYSLOT's examples
		"foo{hash_tag}":   2515,
		"bar{hash_tag}":   2515,
		"{a}{b}":          hashSlot("a"), // the first tag
		"{prefix}:node:a": hashSlot("prefix"),
	} {
		if got := hashSlot(key); got != want {
			t.Errorf("hashSlot(%q) = %d, want %d", key, got, want)
		}
	}
}
