package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hotpot-rt/hotpot/internal/config"
)

const testSecret = "a-soak-test-secret-of-32-bytes-at-least"

// TestSoakSmoke runs the soak mode for a moment, small, against a node in
// this process: every misbehaviour runs, the well-behaved agents lose
// nothing, and the misbehaviours quick enough to show in so short a run
// meet their defences. (Whether the delay stays within noise is not
// checked: in a test run it is all noise.)
func TestSoakSmoke(t *testing.T) {
	// As bench/soak.sh starts its node, with limits small enough for a few
	// misbehavers to reach them.
	ws, tcp, api := startTestNode(t, func(cfg *config.Config) {
		cfg.JWTSecret = testSecret
		cfg.MaxMessageBytes = 16384
		cfg.MaxHandshakesPerIP = 4
		cfg.MaxPendingCalls = 16
	})
	args := []string{"soak", "-url", ws, "-tcp", tcp, "-api", api, "-jwt-secret", testSecret,
		"-n", "30", "-m", strconv.Itoa(len(misbehaviours)), "-d", "1s", "-warmup", "1s",
		"-call-rate", "50", "-broadcast-rate", "5", "-max-message-bytes", "16384",
		"-hold-conns", "6", "-pile-calls", "20", "-pause", "50ms", "-pid", strconv.Itoa(os.Getpid())}
	var out, errs bytes.Buffer
	if status := run(args, &out, &errs); status != 0 {
		t.Fatalf("exit %d\n%s\n%s", status, &out, &errs)
	}
	line, ok := strings.CutPrefix(lastLine(out.String()), "json")
	var r soakResult
	if !ok || json.Unmarshal([]byte(line), &r) != nil {
		t.Fatalf("no JSON line in\n%s", &out)
	}
	if r.Mode != "soak" || len(r.Phases) != 2 || !r.Verdict.NothingLost {
		t.Fatalf("result %+v\n%s", r, &out)
	}
	for _, p := range r.Phases {
		if p.CallsOK == 0 || p.Deliveries == 0 || p.AgentsClosed != 0 || p.Lost != 0 {
			t.Fatalf("phase %s: %+v\n%s", p.Name, p, &out)
		}
	}
	kinds := map[string]kindResult{}
	for _, k := range r.Phases[1].Misbehaviour {
		kinds[k.Kind] = k
	}
	if len(kinds) != len(misbehaviours) {
		t.Fatalf("%d misbehaviours ran, want %d\n%s", len(kinds), len(misbehaviours), &out)
	}
	for _, name := range []string{"flood", "oversize", "malformed", "bad-token"} {
		if k := kinds[name]; len(k.Missing) > 0 || k.Unexpected > 0 {
			t.Errorf("%s: defences not seen %q, unexpected %d (%s)", name, k.Missing, k.Unexpected, k.FirstUnexpected)
		}
	}
	t.Logf("output:\n%s", &out)
}
