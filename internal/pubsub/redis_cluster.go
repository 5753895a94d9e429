package pubsub

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

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

// errRedisIsCluster says what to do about a lone server's client that
// Redis answers MOVED.
var errRedisIsCluster = errors.New("Redis answers MOVED: it is a node of a Redis Cluster; start the node with --redis-cluster")

// movedWatch is a hook of a lone server's client that looks for the
// MOVED answers of a Redis Cluster node: the node was pointed at a Redis
// Cluster without --redis-cluster, and most of its commands fail. The
// first one is logged, saying so; Ready fails from then on.
type movedWatch struct {
	log  *slog.Logger
	seen atomic.Bool
}

func (w *movedWatch) DialHook(next redis.DialHook) redis.DialHook { return next }

func (w *movedWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		w.check(err)
		return err
	}
}

func (w *movedWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			w.check(cmd.Err())
		}
		return err
	}
}

// check notes err if it is a MOVED answer.
func (w *movedWatch) check(err error) {
	if err != nil && strings.HasPrefix(err.Error(), "MOVED ") && !w.seen.Swap(true) {
		w.log.Error(errRedisIsCluster.Error())
	}
}
