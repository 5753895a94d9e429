package sockets

import (
	"encoding/json"
	"testing"
)

// TestServerDataIsJSON: the hand-built data of Welcome and Kicked is valid
// JSON that says what encoding/json would, whatever the strings hold.
func TestServerDataIsJSON(t *testing.T) {
	for _, s := range []string{"plain", `quo"te\back`, "new\nline\x00", "ünï\xffcode"} {
		var kicked struct{ Reason string }
		if err := json.Unmarshal(kickedData(s), &kicked); err != nil {
			t.Fatalf("kickedData(%q) = %s: %v", s, kickedData(s), err)
		}
		var welcome struct {
			ID, Node  string
			Keepalive struct{ IntervalMS, LimitMS int64 } `json:"keepalive"`
		}
		raw := welcomeData("a", s, 5000, 12000)
		if err := json.Unmarshal(raw, &welcome); err != nil || welcome.ID != "a" {
			t.Fatalf("welcomeData = %s: %v", raw, err)
		}
		want, _ := json.Marshal(s) // the reference encoding
		var decoded string
		json.Unmarshal(want, &decoded)
		if kicked.Reason != decoded || welcome.Node != decoded {
			t.Fatalf("%q came back as %q and %q, want %q", s, kicked.Reason, welcome.Node, decoded)
		}
	}
}
