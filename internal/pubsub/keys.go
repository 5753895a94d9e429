package pubsub

import "strconv"

// keys names the Redis keys and channels of one cluster, all under one
// prefix. They are named for Redis Cluster: what one command touches
// together shares a hash tag (the part in braces), and per-node channels
// map onto sharded pub/sub. No request scans the keyspace.
//
//	<prefix>:agent:{<agent>}        string "node#session": the agent's owner
//	<prefix>:node-agents:{<node>}   set: the agents a node registered, to forget them with it
//	{<prefix>}:nodes                set: the ids of the nodes that joined
//	{<prefix>}:node:<node>          string: a node's NodeInfo as JSON, expiring with its heartbeat
//	<prefix>:events                 stream: the cluster's agent events
//	<prefix>:db<db>:node:{<node>}   channel: requests to a node and answers for it
//	<prefix>:db<db>:all             channel: surveys of every node
//
// Keys live in the database the URL selects; channels belong to no
// database, so theirs name it: clusters on two databases of one server,
// under one prefix, stay apart.
type keys struct {
	prefix string
	// channels starts every channel name: the prefix and the database.
	channels string
}

func newKeys(prefix string, db int) keys {
	return keys{prefix: prefix, channels: prefix + ":db" + strconv.Itoa(db)}
}

func (k keys) agent(id string) string        { return k.prefix + ":agent:{" + id + "}" }
func (k keys) nodeAgents(node string) string { return k.prefix + ":node-agents:{" + node + "}" }
func (k keys) nodes() string                 { return "{" + k.prefix + "}:nodes" }
func (k keys) node(id string) string         { return "{" + k.prefix + "}:node:" + id }
func (k keys) events() string                { return k.prefix + ":events" }
func (k keys) nodeChannel(id string) string  { return k.channels + ":node:{" + id + "}" }
func (k keys) allChannel() string            { return k.channels + ":all" }
