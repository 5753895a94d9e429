package pubsub

import "testing"

// TestChannelNames: database 0's channels keep the names nodes used
// before channels named their database; another database's carry it, so
// that no two databases share one.
func TestChannelNames(t *testing.T) {
	for _, tc := range []struct {
		db        int
		node, all string
	}{
		{0, "hotpot:node:{a}", "hotpot:all"},
		{3, "hotpot:node:{a}:db3", "hotpot:all:db3"},
	} {
		k := newKeys("hotpot", tc.db)
		if got := k.nodeChannel("a"); got != tc.node {
			t.Errorf("db %d: node channel %q, want %q", tc.db, got, tc.node)
		}
		if got := k.allChannel(); got != tc.all {
			t.Errorf("db %d: survey channel %q, want %q", tc.db, got, tc.all)
		}
	}
}
