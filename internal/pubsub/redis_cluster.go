package pubsub

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// clusterWatch is what a broker on a Redis Cluster knows of its masters:
// whether each answers, and whether one restarted since the last look. A
// master that restarts empty takes with it the registrations of its hash
// slots while the node's own heartbeat, on another master, lives on; only
// its new run id tells.
type clusterWatch struct {
	client *redis.ClusterClient

	mu sync.Mutex // guards runIDs
	// runIDs are the masters' run ids at the last look, by address.
	runIDs map[string]string
}

// ping checks that every master answers.
func (w *clusterWatch) ping(ctx context.Context) error {
	return w.client.ForEachMaster(ctx, func(ctx context.Context, master *redis.Client) error {
		return master.Ping(ctx).Err()
	})
}

// restarted reports whether a master has a run id other than at the last
// look, or is new since: its slots may have lost their keys.
func (w *clusterWatch) restarted(ctx context.Context) (bool, error) {
	var mu sync.Mutex // ForEachMaster calls concurrently
	now := make(map[string]string)
	err := w.client.ForEachMaster(ctx, func(ctx context.Context, master *redis.Client) error {
		info, err := master.Info(ctx, "server").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		now[master.Options().Addr] = infoField(info, "run_id")
		mu.Unlock()
		return nil
	})
	if err != nil {
		return false, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	restarted := false
	for addr, id := range now {
		if before, seen := w.runIDs[addr]; w.runIDs != nil && (!seen || before != id) {
			restarted = true
		}
	}
	w.runIDs = now
	return restarted, nil
}

// infoField returns the value of field in an INFO reply.
func infoField(info, field string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
