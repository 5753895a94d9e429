package config

import (
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestEveryVariableTakesEffect: each HOTPOT_* variable, set alone (with
// what it needs), changes the configuration; and every flag has a case
// here, so a new flag without one fails.
func TestEveryVariableTakesEffect(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	cases := map[string]map[string]string{
		"http":                  {"HOTPOT_HTTP": "127.0.0.1:9000"},
		"tcp":                   {"HOTPOT_TCP": "127.0.0.1:9001"},
		"api-key":               {"HOTPOT_API_KEY": "k"},
		"jwt-secret":            {"HOTPOT_JWT_SECRET": secret},
		"jwt-audience":          {"HOTPOT_JWT_SECRET": secret, "HOTPOT_JWT_AUDIENCE": "game"},
		"jwt-issuer":            {"HOTPOT_JWT_SECRET": secret, "HOTPOT_JWT_ISSUER": "auth"},
		"event-retention":       {"HOTPOT_EVENT_RETENTION": "7"},
		"event-retention-bytes": {"HOTPOT_EVENT_RETENTION_BYTES": "2000000"},
		"drain-timeout":         {"HOTPOT_DRAIN_TIMEOUT": "1s"},
		"tcp-codec":             {"HOTPOT_TCP_CODEC": "msgpack"},
		"tcp-len-bytes":         {"HOTPOT_TCP_LEN_BYTES": "4"},
		"keepalive-interval":    {"HOTPOT_KEEPALIVE_INTERVAL": "1s"},
		"keepalive-limit":       {"HOTPOT_KEEPALIVE_LIMIT": "30s"},
		"max-message-bytes":     {"HOTPOT_MAX_MESSAGE_BYTES": "1000"},
		"send-queue":            {"HOTPOT_SEND_QUEUE": "3"},
		"send-queue-bytes":      {"HOTPOT_SEND_QUEUE_BYTES": "70000"},
		"max-conns":             {"HOTPOT_MAX_CONNS": "3"},
		"rate-limit":            {"HOTPOT_RATE_LIMIT": "3"},
		"rate-burst":            {"HOTPOT_RATE_BURST": "3"},
		"max-broadcasts":        {"HOTPOT_MAX_BROADCASTS": "3"},
		"max-handshakes-per-ip": {"HOTPOT_MAX_HANDSHAKES_PER_IP": "3"},
		"max-sse-subscribers":   {"HOTPOT_MAX_SSE_SUBSCRIBERS": "3"},
		"max-pending-calls":     {"HOTPOT_MAX_PENDING_CALLS": "3"},
		"max-groups":            {"HOTPOT_MAX_GROUPS": "3"},
		"max-http-conns":        {"HOTPOT_MAX_HTTP_CONNS": "3"},
		"allowed-origins":       {"HOTPOT_ALLOWED_ORIGINS": "a.example.com"},
		"trusted-proxies":       {"HOTPOT_TRUSTED_PROXIES": "10.0.0.0/8"},
		"tls-cert":              {"HOTPOT_TLS_CERT": "c.pem", "HOTPOT_TLS_KEY": "k.pem"},
		"tls-key":               {"HOTPOT_TLS_CERT": "c.pem", "HOTPOT_TLS_KEY": "k.pem"},
		"node-id":               {"HOTPOT_NODE_ID": "other"},
		"redis":                 {"HOTPOT_REDIS": "redis://127.0.0.1:6380"},
		"redis-cluster":         {"HOTPOT_REDIS": "redis://127.0.0.1:7000", "HOTPOT_REDIS_CLUSTER": "true"},
		"redis-prefix":          {"HOTPOT_REDIS_PREFIX": "game1"},
		"pprof":                 {"HOTPOT_PPROF": "true"},
		"log-level":             {"HOTPOT_LOG_LEVEL": "debug"},
		"log-format":            {"HOTPOT_LOG_FORMAT": "json"},
	}
	var help strings.Builder
	Load([]string{"-h"}, env(nil), &help)
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help.String(), -1) {
		if _, ok := cases[m[1]]; !ok {
			t.Errorf("flag --%s has no case in this test", m[1])
		}
	}
	for flag, vars := range cases {
		// The flag's own variable must change what the others (the base,
		// and what it needs) give.
		without := map[string]string{"HOTPOT_NODE_ID": "n"}
		with := map[string]string{"HOTPOT_NODE_ID": "n"}
		for k, v := range vars {
			with[k] = v
			if k != EnvName(flag) {
				without[k] = v
			}
		}
		if flag == "tls-cert" || flag == "tls-key" {
			without = map[string]string{"HOTPOT_NODE_ID": "n"} // they go together
		}
		before, err := Load(nil, env(without), io.Discard)
		if err != nil {
			t.Fatalf("%s without its variable: %v", flag, err)
		}
		after, err := Load(nil, env(with), io.Discard)
		if err != nil {
			t.Errorf("%s via %v: %v", flag, vars, err)
			continue
		}
		if reflect.DeepEqual(before, after) {
			t.Errorf("%s via %v: no effect", flag, vars)
		}
	}
}
