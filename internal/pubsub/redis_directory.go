package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// restoreBatch bounds the commands of one pipeline when many agents are
// registered or forgotten at once.
const restoreBatch = 1000

// deleteIfOwner deletes KEYS[1] if its value is ARGV[1].
var deleteIfOwner = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// deleteIfNode deletes KEYS[1] if its value starts with ARGV[1] ("node#").
var deleteIfNode = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Register makes owner the holder of agent and returns who held it.
func (r *Redis) Register(ctx context.Context, agent string, owner Owner) (Owner, error) {
	var previous *redis.StatusCmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		previous = p.SetArgs(ctx, r.keys.agent(agent), owner.String(), redis.SetArgs{Get: true})
		p.SAdd(ctx, r.keys.nodeAgents(owner.Node), agent)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Owner{}, unavailable(err)
	}
	return parseOwner(previous.Val()), nil
}

// Unregister removes agent if owner still holds it. Only then does it
// take agent out of its node's set: a newer session of the same node
// holds it otherwise, and Forget must still find it there.
func (r *Redis) Unregister(ctx context.Context, agent string, owner Owner) error {
	deleted, err := deleteIfOwner.Run(ctx, r.client, []string{r.keys.agent(agent)}, owner.String()).Int()
	if err != nil {
		return unavailable(err)
	}
	if deleted == 0 {
		return nil
	}
	set := r.keys.nodeAgents(owner.Node)
	var now *redis.StringCmd
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SRem(ctx, set, agent)
		now = p.Get(ctx, r.keys.agent(agent))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return unavailable(err)
	}
	// A Register on the same node between the delete and the SREM had
	// its SADD undone: put it back.
	if v, err := now.Result(); err == nil && parseOwner(v).Node == owner.Node {
		if err := r.client.SAdd(ctx, set, agent).Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// Lookup returns who holds agent.
func (r *Redis) Lookup(ctx context.Context, agent string) (Owner, error) {
	v, err := r.client.Get(ctx, r.keys.agent(agent)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return Owner{}, nil
	case err != nil:
		return Owner{}, unavailable(err)
	}
	return parseOwner(v), nil
}

// Restore registers agents again where no one else took them.
func (r *Redis) Restore(ctx context.Context, agents map[string]Owner) error {
	ids := make([]string, 0, len(agents))
	for id := range agents {
		ids = append(ids, id)
	}
	for batch := range slices.Chunk(ids, restoreBatch) {
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range batch {
				owner := agents[id]
				p.SetNX(ctx, r.keys.agent(id), owner.String(), 0)
				p.SAdd(ctx, r.keys.nodeAgents(owner.Node), id)
			}
			return nil
		})
		if err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// Heartbeat records that this node is alive, with info, for ttl. On a
// Redis Cluster, a master that restarted since the last heartbeat makes
// the node unknown too: it may have lost some of the node's agents.
func (r *Redis) Heartbeat(ctx context.Context, info NodeInfo, ttl time.Duration) (bool, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return false, err
	}
	restarted := false
	if r.cluster != nil {
		if restarted, err = r.cluster.restarted(ctx); err != nil {
			return false, unavailable(err)
		}
	}
	err = r.client.SetArgs(ctx, r.keys.node(info.ID), b, redis.SetArgs{Mode: "XX", TTL: ttl}).Err()
	switch {
	case err == nil:
		return !restarted, nil
	case !errors.Is(err, redis.Nil):
		return false, unavailable(err)
	}
	_, err = r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, r.keys.nodes(), info.ID)
		p.Set(ctx, r.keys.node(info.ID), b, ttl)
		return nil
	})
	if err != nil {
		return false, unavailable(err)
	}
	return false, nil
}

// Nodes lists the live nodes and those whose heartbeat expired.
func (r *Redis) Nodes(ctx context.Context) (live []NodeInfo, dead []string, err error) {
	ids, err := r.client.SMembers(ctx, r.keys.nodes()).Result()
	if err != nil {
		return nil, nil, unavailable(err)
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	slices.Sort(ids)
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = r.keys.node(id)
	}
	infos, err := r.client.MGet(ctx, names...).Result()
	if err != nil {
		return nil, nil, unavailable(err)
	}
	for i, v := range infos {
		s, ok := v.(string)
		var info NodeInfo
		if !ok || json.Unmarshal([]byte(s), &info) != nil {
			dead = append(dead, ids[i])
			continue
		}
		live = append(live, info)
	}
	return live, dead, nil
}

// Forget removes node, its heartbeat and every agent it still holds.
func (r *Redis) Forget(ctx context.Context, node string) error {
	set := r.keys.nodeAgents(node)
	prefix := node + ownerSeparator
	var cursor uint64
	for {
		ids, next, err := r.client.SScan(ctx, set, cursor, "", restoreBatch).Result()
		if err != nil {
			return unavailable(err)
		}
		if len(ids) > 0 {
			_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, id := range ids {
					deleteIfNode.Eval(ctx, p, []string{r.keys.agent(id)}, prefix)
				}
				return nil
			})
			if err != nil {
				return unavailable(err)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, set)
		p.Del(ctx, r.keys.node(node))
		p.SRem(ctx, r.keys.nodes(), node)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}
