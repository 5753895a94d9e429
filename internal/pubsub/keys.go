package pubsub

import "strconv"

// keys names the Redis keys and channels of one cluster, all under one
// prefix. They are named for Redis Cluster: what one command touches
// together shares a hash tag (the part in braces), and each node's
// channel has a slot of its own when the channels are sharded. No request
// scans the keyspace.
//
//	<prefix>:agent:{<agent>}        string "node#session": the agent's owner
//	<prefix>:node-agents:{<node>}   set: the agents a node registered, to forget them with it
//	{<prefix>}:nodes                set: the ids of the nodes that joined
//	{<prefix>}:node:<node>          string: a node's NodeInfo as JSON, expiring with its heartbeat
//	<prefix>:events                 stream: the cluster's agent events
//	<prefix>:node:{<node>}[:db<n>]  channel: requests to a node and answers for it
//	<prefix>:all[:db<n>]            channel: surveys of every node
//
// Keys live in the database the URL selects; channels belong to no
// database, so those of a database other than 0 name it, at their end:
// clusters on two databases of one server, under one prefix, stay apart,
// and on database 0 the channels keep the names nodes used before they
// named any (a rolling upgrade keeps routing). No two prefixes, nodes or
// databases make one name: node ids hold no braces.
type keys struct {
	prefix string
	// channelSuffix ends every channel name: empty on database 0.
	channelSuffix string
}

func newKeys(prefix string, db int) keys {
	k := keys{prefix: prefix}
	if db != 0 {
		k.channelSuffix = ":db" + strconv.Itoa(db)
	}
	return k
}

func (k keys) agent(id string) string        { return k.prefix + ":agent:{" + id + "}" }
func (k keys) nodeAgents(node string) string { return k.prefix + ":node-agents:{" + node + "}" }
func (k keys) nodes() string                 { return "{" + k.prefix + "}:nodes" }
func (k keys) node(id string) string         { return "{" + k.prefix + "}:node:" + id }
func (k keys) events() string                { return k.prefix + ":events" }
func (k keys) nodeChannel(id string) string  { return k.prefix + ":node:{" + id + "}" + k.channelSuffix }
func (k keys) allChannel() string            { return k.prefix + ":all" + k.channelSuffix }
