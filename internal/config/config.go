// Package config owns the node's configuration: one Config struct, its
// defaults, and how flags and HOTPOT_* environment variables fill it.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"
)

// Config is everything a node is told at start. The zero value is not
// useful; start from Default.
type Config struct {
	// HTTPAddr is the one HTTP listener: WebSocket at /ws and /, REST, SSE.
	HTTPAddr string
	// TCPAddr is the raw TCP listener; empty disables it.
	TCPAddr string
	// APIKey is the bearer key of the REST API and SSE stream; required
	// when HTTPAddr is not loopback.
	APIKey string
	// JWTSecret is the HS256 secret of client tokens, at least
	// MinJWTSecretBytes long; empty is the anonymous dev mode.
	JWTSecret string
	// JWTAudience, when set, must be among a client token's aud.
	JWTAudience string
	// JWTIssuer, when set, must be a client token's iss.
	JWTIssuer string
	// EventRetention is how many events the SSE stream keeps for
	// Last-Event-ID resume.
	EventRetention int
	// EventRetentionBytes bounds the memory those events hold; beyond it
	// the oldest are dropped too.
	EventRetentionBytes int
	// DrainTimeout is how long in-flight calls may finish on shutdown.
	DrainTimeout time.Duration
	// TCPCodec is the codec of every TCP connection: json, msgpack or proto.
	TCPCodec string
	// TCPLenBytes is the size of the TCP length prefix: 2 or 4 bytes.
	TCPLenBytes int
	// KeepaliveInterval is how often agents are looked at, and how long an
	// agent may stay silent before it is sent a Ping.
	KeepaliveInterval time.Duration
	// KeepaliveLimit is how long an agent may stay silent before it is closed.
	KeepaliveLimit time.Duration
	// MaxMessageBytes bounds one frame, on WebSocket and TCP.
	MaxMessageBytes int
	// SendQueue is how many frames may wait for one agent before it counts
	// as a slow consumer.
	SendQueue int
	// SendQueueBytes is how many bytes of frames may wait for one agent
	// before it counts as a slow consumer.
	SendQueueBytes int
	// MaxConns bounds WebSocket and TCP connections together.
	MaxConns int
	// RateLimit is how many frames per second each agent may send on
	// average: its token bucket refills at this rate. 0 disables the limit.
	RateLimit float64
	// RateBurst is the size of each agent's bucket: how many frames it may
	// send at once after a quiet spell. An agent that has more than
	// RateBurst frames refused before its bucket is full again is closed.
	RateBurst int
	// MaxBroadcasts bounds the broadcasts and group pushes a node delivers
	// at once; more are refused with 503.
	MaxBroadcasts int
	// MaxHTTPConns bounds the HTTP connections open at once (REST, SSE and
	// WebSocket handshakes not yet upgraded); more are closed at once.
	MaxHTTPConns int
	// MaxHandshakesPerIP bounds the TCP connections one remote address has
	// in a handshake that waits for the client (TLS, Auth) at once; more
	// are refused with Error 429.
	MaxHandshakesPerIP int
	// MaxSSESubscribers bounds the open /events streams; more are refused
	// with 503.
	MaxSSESubscribers int
	// MaxPendingCalls bounds the calls waiting for one agent's replies;
	// more are refused with 429.
	MaxPendingCalls int
	// MaxGroups bounds the groups one agent is in; joining more is refused
	// with 429.
	MaxGroups int
	// AllowedOrigins are WebSocket Origin patterns; empty allows the same
	// host only.
	AllowedOrigins []string
	// TrustedProxies are the networks whose X-Forwarded-For and X-Real-IP
	// headers set an agent's remote address.
	TrustedProxies []netip.Prefix
	// TLSCert and TLSKey, when both set, serve both listeners over TLS.
	TLSCert, TLSKey string
	// NodeID names this node; Load generates a unique one when empty.
	NodeID string
	// Redis, a redis:// or rediss:// URL, joins the node to a cluster;
	// empty runs it alone.
	Redis string
	// RedisCluster makes Redis name seed nodes of a Redis Cluster.
	RedisCluster bool
	// RedisPrefix starts the names of the cluster's Redis keys and
	// channels, so that clusters may share one Redis.
	RedisPrefix string
	// Pprof serves net/http/pprof at /debug/pprof/, behind the API key.
	Pprof bool
	// LogLevel and LogFormat ("text" or "json") shape the logs.
	LogLevel  slog.Level
	LogFormat string
}

// Default returns the configuration of a node started with no flags.
func Default() Config {
	return Config{
		HTTPAddr:            "127.0.0.1:8848",
		TCPAddr:             "127.0.0.1:8849",
		TCPCodec:            "json",
		TCPLenBytes:         2,
		KeepaliveInterval:   5 * time.Second,
		KeepaliveLimit:      12 * time.Second,
		MaxMessageBytes:     65536,
		SendQueue:           256,
		SendQueueBytes:      1 << 20,
		MaxConns:            100000,
		RateLimit:           100,
		RateBurst:           200,
		MaxBroadcasts:       8,
		MaxHTTPConns:        10000,
		MaxHandshakesPerIP:  64,
		MaxSSESubscribers:   1000,
		MaxPendingCalls:     256,
		MaxGroups:           256,
		EventRetention:      10000,
		EventRetentionBytes: 64 << 20,
		DrainTimeout:        5 * time.Second,
		LogLevel:            slog.LevelInfo,
		LogFormat:           "text",
		RedisPrefix:         "hotpot",
	}
}

// Load parses command-line arguments over HOTPOT_* environment variables
// over the defaults: a flag given on the command line wins over its
// variable (the flag's name in upper case with dashes as underscores,
// prefixed HOTPOT_). A variable that is set counts even when empty, as the
// flag given "" does (HOTPOT_TCP= disables TCP). lookupEnv is
// os.LookupEnv outside tests. The result is validated, and a missing node
// id is generated.
func Load(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("hotpot", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listener: WebSocket at /ws and /, REST, SSE")
	fs.StringVar(&c.TCPAddr, "tcp", c.TCPAddr, "raw TCP listener; empty disables")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "bearer key for REST and SSE; required when --http is not loopback")
	fs.StringVar(&c.JWTSecret, "jwt-secret", c.JWTSecret, "HS256 secret of client tokens, at least 32 bytes; empty = anonymous dev mode")
	fs.StringVar(&c.JWTAudience, "jwt-audience", c.JWTAudience, "when set, client tokens must carry this aud")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", c.JWTIssuer, "when set, client tokens must carry this iss")
	fs.IntVar(&c.EventRetention, "event-retention", c.EventRetention, "SSE events kept for Last-Event-ID resume")
	fs.IntVar(&c.EventRetentionBytes, "event-retention-bytes", c.EventRetentionBytes, "bound on the memory of the events kept, in bytes")
	fs.Var((*duration)(&c.DrainTimeout), "drain-timeout", "on SIGTERM, how long in-flight calls may finish (a `duration`: 5s, 200ms)")
	fs.StringVar(&c.TCPCodec, "tcp-codec", c.TCPCodec, "codec of the TCP listener: json, msgpack or proto")
	fs.IntVar(&c.TCPLenBytes, "tcp-len-bytes", c.TCPLenBytes, "TCP length prefix: 2 or 4 bytes, big-endian")
	fs.Var((*duration)(&c.KeepaliveInterval), "keepalive-interval", "look at agents this often; Ping those idle longer (a `duration`)")
	fs.Var((*duration)(&c.KeepaliveLimit), "keepalive-limit", "close agents idle longer than this (a `duration`)")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", c.MaxMessageBytes, "largest frame, WebSocket and TCP")
	fs.IntVar(&c.SendQueue, "send-queue", c.SendQueue, "frames queued per agent before it counts as a slow consumer")
	fs.IntVar(&c.SendQueueBytes, "send-queue-bytes", c.SendQueueBytes, "bytes of frames queued per agent before it counts as a slow consumer")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "WebSocket and TCP connections together")
	fs.Float64Var(&c.RateLimit, "rate-limit", c.RateLimit, "frames per second each agent may send on average (more: Error 429); 0 = no limit")
	fs.IntVar(&c.RateBurst, "rate-burst", c.RateBurst, "frames an agent may send at once; more refused than this before its bucket refills closes it")
	fs.IntVar(&c.MaxBroadcasts, "max-broadcasts", c.MaxBroadcasts, "broadcasts and group pushes delivered at once; more answer 503")
	fs.IntVar(&c.MaxHandshakesPerIP, "max-handshakes-per-ip", c.MaxHandshakesPerIP, "TCP connections of one address waiting in TLS or Auth at once; more get Error 429")
	fs.IntVar(&c.MaxSSESubscribers, "max-sse-subscribers", c.MaxSSESubscribers, "open /events streams; more answer 503")
	fs.IntVar(&c.MaxPendingCalls, "max-pending-calls", c.MaxPendingCalls, "calls waiting for one agent's replies; more answer 429")
	fs.IntVar(&c.MaxGroups, "max-groups", c.MaxGroups, "groups one agent may be in; joining more answers 429")
	fs.IntVar(&c.MaxHTTPConns, "max-http-conns", c.MaxHTTPConns, "HTTP connections open at once (upgraded WebSockets count in --max-conns instead); more are closed")
	fs.Func("allowed-origins", "comma-separated WebSocket Origin patterns; empty = same host only", func(s string) error {
		c.AllowedOrigins = splitList(s)
		return nil
	})
	fs.Func("trusted-proxies", "comma-separated CIDRs whose X-Forwarded-For/X-Real-IP set remote addresses", func(s string) (err error) {
		c.TrustedProxies, err = parsePrefixes(s)
		return err
	})
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate file (PEM) for both listeners")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS key file (PEM) for both listeners")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "name of this node; generated when empty")
	fs.StringVar(&c.Redis, "redis", c.Redis, "redis:// or rediss:// URL that joins a cluster; empty = single node")
	fs.BoolVar(&c.RedisCluster, "redis-cluster", c.RedisCluster, "--redis names seed nodes of a Redis Cluster (more as ?addr=host:port)")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of the cluster's Redis keys and channels")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve profiles at /debug/pprof/ (behind --api-key)")
	fs.TextVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " ($" + EnvName(f.Name) + ")" })

	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvName(f.Name)
		if v, set := lookupEnv(name); set && !given[f.Name] && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return Config{}, envErr
	}
	if c.NodeID == "" {
		c.NodeID = generateNodeID()
	}
	return c, c.Validate()
}

// MinJWTSecretBytes is the shortest --jwt-secret: an HS256 key must be
// at least as long as the hash, 256 bits (RFC 7518 §3.2).
const MinJWTSecretBytes = 32

// maxRate bounds --rate-limit and --rate-burst: beyond it a limit means
// nothing, and a typo is more likely than a wish.
const maxRate = 1_000_000

// EnvName is the environment variable that sets the flag called name.
func EnvName(flagName string) string {
	return "HOTPOT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.HTTPAddr == "":
		return errors.New("--http must not be empty")
	case c.APIKey == "" && !IsLoopback(c.HTTPAddr):
		return fmt.Errorf("--http %s is not loopback: set --api-key (HOTPOT_API_KEY) so strangers cannot drive your clients", c.HTTPAddr)
	case c.EventRetention < 1:
		return fmt.Errorf("--event-retention %d: must be at least 1", c.EventRetention)
	case c.EventRetentionBytes < 1<<20:
		return fmt.Errorf("--event-retention-bytes %d: must be at least 1 MiB", c.EventRetentionBytes)
	case c.DrainTimeout < 0:
		return fmt.Errorf("--drain-timeout %v: must not be negative", c.DrainTimeout)
	case c.TCPCodec != "json" && c.TCPCodec != "msgpack" && c.TCPCodec != "proto":
		return fmt.Errorf("--tcp-codec %q: want json, msgpack or proto", c.TCPCodec)
	case c.TCPLenBytes != 2 && c.TCPLenBytes != 4:
		return fmt.Errorf("--tcp-len-bytes %d: want 2 or 4", c.TCPLenBytes)
	case c.KeepaliveInterval <= 0:
		return fmt.Errorf("--keepalive-interval %v: must be positive", c.KeepaliveInterval)
	case c.KeepaliveLimit <= c.KeepaliveInterval:
		return fmt.Errorf("--keepalive-limit %v: must be longer than --keepalive-interval %v", c.KeepaliveLimit, c.KeepaliveInterval)
	case c.MaxMessageBytes < 64:
		return fmt.Errorf("--max-message-bytes %d: must be at least 64", c.MaxMessageBytes)
	case c.SendQueue < 1:
		return fmt.Errorf("--send-queue %d: must be at least 1", c.SendQueue)
	case c.SendQueueBytes < c.MaxMessageBytes:
		return fmt.Errorf("--send-queue-bytes %d: must be at least --max-message-bytes %d", c.SendQueueBytes, c.MaxMessageBytes)
	case c.MaxConns < 1:
		return fmt.Errorf("--max-conns %d: must be at least 1", c.MaxConns)
	case c.MaxHandshakesPerIP < 1:
		return fmt.Errorf("--max-handshakes-per-ip %d: must be at least 1", c.MaxHandshakesPerIP)
	case c.MaxSSESubscribers < 1:
		return fmt.Errorf("--max-sse-subscribers %d: must be at least 1", c.MaxSSESubscribers)
	case c.MaxPendingCalls < 1 || c.MaxGroups < 1:
		return fmt.Errorf("--max-pending-calls %d, --max-groups %d: must be at least 1", c.MaxPendingCalls, c.MaxGroups)
	case c.MaxHTTPConns < 1:
		return fmt.Errorf("--max-http-conns %d: must be at least 1", c.MaxHTTPConns)
	case c.MaxBroadcasts < 1:
		return fmt.Errorf("--max-broadcasts %d: must be at least 1", c.MaxBroadcasts)
	case c.JWTSecret != "" && len(c.JWTSecret) < MinJWTSecretBytes:
		return fmt.Errorf("--jwt-secret is %d bytes: an HS256 secret must have at least %d (openssl rand -base64 32 makes one)", len(c.JWTSecret), MinJWTSecretBytes)
	case c.JWTSecret == "" && (c.JWTAudience != "" || c.JWTIssuer != ""):
		return errors.New("--jwt-audience and --jwt-issuer check client tokens: they need --jwt-secret")
	case !(c.RateLimit >= 0 && c.RateLimit <= maxRate): // NaN too
		return fmt.Errorf("--rate-limit %v: want 0 (no limit) to %d frames per second", c.RateLimit, maxRate)
	case c.RateLimit > 0 && (c.RateBurst < 1 || c.RateBurst > maxRate):
		return fmt.Errorf("--rate-burst %d: want 1 to %d frames (--rate-limit 0 turns the limit off)", c.RateBurst, maxRate)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	case c.Redis != "" && !strings.HasPrefix(c.Redis, "redis://") && !strings.HasPrefix(c.Redis, "rediss://"):
		return fmt.Errorf("--redis %q: want a redis:// or rediss:// URL", c.Redis)
	case c.RedisCluster && c.Redis == "":
		return errors.New("--redis-cluster needs --redis, the URL of a seed node")
	case c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, "{}"):
		return fmt.Errorf("--redis-prefix %q: must be non-empty, without braces", c.RedisPrefix)
	case !validNodeID(c.NodeID):
		return fmt.Errorf("--node-id %q: must be 1-128 characters of A-Z a-z 0-9 _ . : @ -", c.NodeID)
	}
	for _, pattern := range c.AllowedOrigins {
		if _, err := path.Match(pattern, ""); err != nil {
			return fmt.Errorf("--allowed-origins %q: not a pattern (path.Match: *, ?, [a-z], \\ escapes): %w", pattern, err)
		}
	}
	return nil
}

// Logger returns the structured logger the configuration asks for,
// writing to w.
func (c Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("node", c.NodeID)
}

// IsLoopback reports whether a listen address only takes connections from
// this host: 127.0.0.0/8, ::1 or localhost. An empty host (":8848"),
// 0.0.0.0 and [::] are not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parsePrefixes reads comma-separated CIDRs; a bare address counts as a
// network of one.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		if !strings.Contains(part, "/") {
			addr, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an address", part)
			}
			out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// duration is a time.Duration flag whose error says what a duration
// looks like.
type duration time.Duration

func (d *duration) String() string { return time.Duration(*d).String() }

func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: use a Go duration such as 12s or 200ms", s)
	}
	*d = duration(v)
	return nil
}

// validNodeID reports whether id may name a node: empty (generated
// later), or 1–128 of [A-Za-z0-9_.:@-], as agent ids.
func validNodeID(id string) bool {
	if len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.:@-", r)) {
			return false
		}
	}
	return true
}

// generateNodeID names a node after its host plus a random suffix, so two
// nodes on one host never share a name.
func generateNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	b := make([]byte, 3)
	rand.Read(b) // never fails; see crypto/rand.Read
	return host + "-" + hex.EncodeToString(b)
}
