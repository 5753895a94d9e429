package config

import (
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.NodeID = c.NodeID
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Load() = %+v\nwant %+v", c, want)
	}
	// Each default as DESIGN.md §2 (and, for the rate limit, README.md)
	// writes it, not as Default returns it.
	for _, d := range []struct {
		flag      string
		got, want any
	}{
		{"--http", c.HTTPAddr, "127.0.0.1:8848"},
		{"--tcp", c.TCPAddr, "127.0.0.1:8849"},
		{"--redis", c.Redis, ""},
		{"--api-key", c.APIKey, ""},
		{"--jwt-secret", c.JWTSecret, ""},
		{"--keepalive-interval", c.KeepaliveInterval, 5 * time.Second},
		{"--keepalive-limit", c.KeepaliveLimit, 12 * time.Second},
		{"--max-message-bytes", c.MaxMessageBytes, 65536},
		{"--tcp-len-bytes", c.TCPLenBytes, 2},
		{"--tcp-codec", c.TCPCodec, "json"},
		{"--send-queue", c.SendQueue, 256},
		{"--allowed-origins", len(c.AllowedOrigins), 0},
		{"--trusted-proxies", len(c.TrustedProxies), 0},
		{"--event-retention", c.EventRetention, 10000},
		{"--drain-timeout", c.DrainTimeout, 5 * time.Second},
		{"--log-level", c.LogLevel, slog.LevelInfo},
		{"--log-format", c.LogFormat, "text"},
		{"--max-conns", c.MaxConns, 100000},
		{"--tls-cert", c.TLSCert, ""},
		{"--tls-key", c.TLSKey, ""},
		{"--rate-limit", c.RateLimit, 100.0},
		{"--rate-burst", c.RateBurst, 200},
	} {
		if d.got != d.want {
			t.Errorf("%s defaults to %v, want %v", d.flag, d.got, d.want)
		}
	}
}

func TestNonLoopbackNeedsKey(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8848", "127.0.0.2:1", "[::1]:8848", "localhost:8848"} {
		if _, err := Load([]string{"--http", addr}, env(nil), io.Discard); err != nil {
			t.Errorf("%s without a key: %v", addr, err)
		}
	}
	if _, err := Load([]string{"--http", ":8848"}, env(map[string]string{"HOTPOT_API_KEY": "k"}), io.Discard); err != nil {
		t.Errorf(":8848 with a key: %v", err)
	}
}

func TestGeneratedNodeIDsAreUnique(t *testing.T) {
	a, _ := Load(nil, env(nil), io.Discard)
	b, _ := Load(nil, env(nil), io.Discard)
	if a.NodeID == "" || a.NodeID == b.NodeID {
		t.Fatalf("node ids %q and %q", a.NodeID, b.NodeID)
	}
}

// TestHelpfulErrors: a bare number for a duration says what a duration
// looks like; a bad variable is named; -h lists each flag's variable.
func TestHelpfulErrors(t *testing.T) {
	_, err := Load([]string{"--keepalive-limit", "12"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "such as 12s") {
		t.Errorf("--keepalive-limit 12: %v, want a hint at Go durations", err)
	}
	_, err = Load(nil, env(map[string]string{"HOTPOT_DRAIN_TIMEOUT": "5"}), io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "HOTPOT_DRAIN_TIMEOUT") {
		t.Errorf("HOTPOT_DRAIN_TIMEOUT=5: %v, want the variable named", err)
	}
	var help strings.Builder
	Load([]string{"-h"}, env(nil), &help)
	for _, v := range []string{"$HOTPOT_HTTP", "$HOTPOT_REDIS", "$HOTPOT_KEEPALIVE_LIMIT"} {
		if !strings.Contains(help.String(), v) {
			t.Errorf("-h does not mention %s:\n%s", v, help.String())
		}
	}
}

// TestEmptyVariableCounts: a variable set to "" is the flag given "":
// HOTPOT_TCP= disables TCP.
func TestEmptyVariableCounts(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"HOTPOT_TCP": ""}), io.Discard)
	if err != nil || c.TCPAddr != "" {
		t.Fatalf("HOTPOT_TCP= gave --tcp %q, %v; want TCP disabled", c.TCPAddr, err)
	}
}

func TestFlagsAndEnv(t *testing.T) {
	c, err := Load(
		[]string{"--keepalive-interval", "200ms", "--tcp=", "--allowed-origins", "a.example.com, *.b.example.com", "--log-level", "debug"},
		env(map[string]string{
			"HOTPOT_KEEPALIVE_INTERVAL": "1s", // the flag wins
			"HOTPOT_KEEPALIVE_LIMIT":    "600ms",
			"HOTPOT_TCP_LEN_BYTES":      "4",
			"HOTPOT_TRUSTED_PROXIES":    "10.0.0.0/8,192.168.1.1",
			"HOTPOT_NODE_ID":            "n1",
			"HOTPOT_LOG_FORMAT":         "json",
		}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeepaliveInterval != 200*time.Millisecond || c.KeepaliveLimit != 600*time.Millisecond {
		t.Errorf("keepalive %v/%v", c.KeepaliveInterval, c.KeepaliveLimit)
	}
	if c.TCPAddr != "" || c.TCPLenBytes != 4 || c.NodeID != "n1" || c.LogFormat != "json" || c.LogLevel != slog.LevelDebug {
		t.Errorf("got %+v", c)
	}
	if !reflect.DeepEqual(c.AllowedOrigins, []string{"a.example.com", "*.b.example.com"}) {
		t.Errorf("origins %q", c.AllowedOrigins)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32")}
	if !reflect.DeepEqual(c.TrustedProxies, wantProxies) {
		t.Errorf("proxies %v", c.TrustedProxies)
	}
}

func TestJWTFlags(t *testing.T) {
	const secret = "32-bytes-are-just-enough-for-it!"
	c, err := Load([]string{"--jwt-secret", secret, "--jwt-audience", "game"},
		env(map[string]string{"HOTPOT_JWT_ISSUER": "https://auth.example.com"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTSecret != secret || c.JWTAudience != "game" || c.JWTIssuer != "https://auth.example.com" {
		t.Fatalf("got secret %q, audience %q, issuer %q", c.JWTSecret, c.JWTAudience, c.JWTIssuer)
	}
}

func TestRateFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		env   map[string]string
		limit float64
		burst int
	}{
		{[]string{"--rate-limit", "2.5", "--rate-burst", "10"}, nil, 2.5, 10},
		{nil, map[string]string{"HOTPOT_RATE_LIMIT": "50", "HOTPOT_RATE_BURST": "60"}, 50, 60},
		// 0 turns the limit off; the burst then does not matter.
		{[]string{"--rate-limit", "0", "--rate-burst", "0"}, nil, 0, 0},
	} {
		c, err := Load(tc.args, env(tc.env), io.Discard)
		if err != nil || c.RateLimit != tc.limit || c.RateBurst != tc.burst {
			t.Errorf("Load(%q, %v): limit %v, burst %d, %v; want %v, %d", tc.args, tc.env, c.RateLimit, c.RateBurst, err, tc.limit, tc.burst)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--tcp-len-bytes", "3"}, nil, "tcp-len-bytes"},
		{[]string{"--tcp-codec", "xml"}, nil, "tcp-codec"},
		{[]string{"--keepalive-interval", "5"}, nil, "keepalive-interval"},
		{[]string{"--keepalive-limit", "1s"}, nil, "keepalive-limit"},
		{[]string{"--send-queue", "0"}, nil, "send-queue"},
		{[]string{"--send-queue-bytes", "1000"}, nil, "send-queue-bytes"},
		{[]string{"--max-conns", "0"}, nil, "max-conns"},
		{[]string{"--max-message-bytes", "10"}, nil, "max-message-bytes"},
		{[]string{"--tls-cert", "c.pem"}, nil, "tls"},
		{[]string{"--trusted-proxies", "nonsense"}, nil, "nonsense"},
		{[]string{"--log-format", "xml"}, nil, "log-format"},
		{[]string{"stray"}, nil, "stray"},
		{[]string{"--http", ":8848"}, nil, "api-key"},
		{[]string{"--http", "0.0.0.0:8848"}, nil, "api-key"},
		{[]string{"--http", "[::]:8848"}, nil, "api-key"},
		{[]string{"--http", "192.168.1.5:8848"}, nil, "api-key"},
		{[]string{"--event-retention", "0"}, nil, "event-retention"},
		{[]string{"--jwt-secret", "31-bytes-are-one-too-few-for-it"}, nil, "jwt-secret"},
		{nil, map[string]string{"HOTPOT_JWT_SECRET": "short"}, "jwt-secret"},
		{[]string{"--jwt-audience", "game"}, nil, "need --jwt-secret"},
		{nil, map[string]string{"HOTPOT_JWT_ISSUER": "https://auth.example.com"}, "need --jwt-secret"},
		{nil, map[string]string{"HOTPOT_SEND_QUEUE": "many"}, "HOTPOT_SEND_QUEUE"},
		{[]string{"--rate-limit", "-1"}, nil, "rate-limit"},
		{[]string{"--rate-limit", "NaN"}, nil, "rate-limit"},
		{[]string{"--rate-limit", "2e6"}, nil, "rate-limit"},
		{[]string{"--rate-burst", "0"}, nil, "rate-burst"},
		{nil, map[string]string{"HOTPOT_RATE_BURST": "-5"}, "rate-burst"},
		{[]string{"--allowed-origins", "game.example.com,*.[a-"}, nil, "allowed-origins"},
		{[]string{"--redis-cluster"}, nil, "needs --redis"},
	} {
		_, err := Load(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q, %v) = %v, want an error about %s", tc.args, tc.env, err, tc.want)
		}
	}
}
