package redistest

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotpot-rt/hotpot/internal/testcert"
)

// hashSlots is how many hash slots a Redis Cluster shares out.
const hashSlots = 16384

// Cluster is a Redis Cluster a test started: masters only, with the hash
// slots shared out evenly among them.
type Cluster struct {
	// Servers are its masters, in the order of the slots they serve.
	// Kill, Restart, Stop and Cont work on each as on a lone server; a
	// restarted node keeps its place and slots, and loses its data.
	Servers []*Server
	// opts start each of its nodes.
	opts []Option
}

// StartCluster starts a Redis Cluster of masters nodes for t, each with
// opts, and returns once every node sees every hash slot served. The
// nodes are killed when t ends. With WithTLS the nodes speak TLS to each
// other too.
func StartCluster(t testing.TB, masters int, opts ...Option) *Cluster {
	t.Helper()
	var wanted Server
	for _, o := range opts {
		o(&wanted)
	}
	var certs testcert.Files // with WithTLS, one authority for every node
	if wanted.tls {
		var err error
		if certs, err = testcert.Write(t.TempDir()); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	c := &Cluster{opts: append(opts, func(s *Server) { s.cluster, s.certs = true, certs })}
	for range masters {
		c.Servers = append(c.Servers, Start(t, c.opts...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), formTimeout)
	defer cancel()
	for i, s := range c.Servers {
		// Distinct config epochs, as redis-cli --cluster create gives:
		// no collisions for the nodes to settle before they agree.
		err := command(ctx, s, "cluster", "set-config-epoch", i+1)
		if err == nil {
			first, last := slotRange(i, masters)
			err = command(ctx, s, "cluster", "addslotsrange", first, last)
		}
		if err != nil {
			t.Fatalf("redistest: form the cluster: %v", err)
		}
	}
	for polls := 0; !c.formed(ctx); polls++ {
		if polls%meetEvery == 0 {
			for _, s := range c.Servers[1:] {
				s.meet(ctx, c.Servers[0])
			}
		}
		if sleep(ctx) != nil {
			t.Fatalf("redistest: the cluster did not form within %v: %s", formTimeout, c.state())
		}
	}
	return c
}

// meetEvery is how many polls a node joining a cluster is told to meet
// it again after: a node forgets a MEET whose handshake outlasts the node
// timeout, as it may on a loaded machine. Meeting a known node is
// harmless.
const meetEvery = 50

// meet tells s to meet peer, the cluster peer belongs to; it may fail,
// and is asked again after meetEvery polls.
func (s *Server) meet(ctx context.Context, peer *Server) {
	command(ctx, s, "cluster", "meet", "127.0.0.1", peer.port, peer.bus)
}

// formed reports whether every node knows every other and sees every
// hash slot served.
func (c *Cluster) formed(ctx context.Context) bool {
	for _, s := range c.Servers {
		if !clusterFormed(ctx, s, len(c.Servers)) {
			return false
		}
	}
	return true
}

// formTimeout bounds the forming of a cluster: a few rounds of gossip,
// which a loaded machine slows down.
const formTimeout = 30 * time.Second

// state describes what each node sees of the cluster, for a failure's
// message.
func (c *Cluster) state() string {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var b strings.Builder
	for _, s := range c.Servers {
		client := s.client()
		nodes, err := client.ClusterNodes(ctx).Result()
		client.Close()
		fmt.Fprintf(&b, "\n%s sees: %s%v", s.Addr(), nodes, err)
	}
	return b.String()
}

// URL returns the cluster's URL, as go-redis's ParseClusterURL reads it:
// redis://[:password@]<first node>?addr=<second node>&addr=… (rediss://
// with WithTLS).
func (c *Cluster) URL() string {
	u, _ := url.Parse(c.Servers[0].URL())
	u.Path = ""
	q := url.Values{}
	for _, s := range c.Servers[1:] {
		q.Add("addr", s.Addr())
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// clusterArgs returns redis-server's arguments for a cluster node whose
// bus listens on bus. Its view of the cluster lives in nodes.conf, in its
// directory, so a restart keeps it.
func (s *Server) clusterArgs() []string {
	args := []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-port", strconv.Itoa(s.bus),
		"--cluster-node-timeout", "2000",
	}
	if s.tls {
		args = append(args, "--tls-cluster", "yes", "--tls-replication", "yes")
	}
	if s.password != "" {
		args = append(args, "--masterauth", s.password)
	}
	return args
}

// client returns a client of s alone, with its password and over TLS as
// s wants.
func (s *Server) client() *redis.Client {
	o := &redis.Options{Addr: s.Addr(), Password: s.password, Protocol: 2}
	if s.tls {
		o.TLSConfig, _ = s.clientTLS() // Start checked the certificates
	}
	return redis.NewClient(o)
}

// clusterFormed reports whether s knows masters nodes and sees every
// hash slot served.
func clusterFormed(ctx context.Context, s *Server, masters int) bool {
	client := s.client()
	defer client.Close()
	info, err := client.ClusterInfo(ctx).Result()
	return err == nil &&
		strings.Contains(info, "cluster_state:ok") &&
		strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)+"\r\n")
}

// command sends one command to s.
func command(ctx context.Context, s *Server, args ...any) error {
	client := s.client()
	defer client.Close()
	if err := client.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("%v on %s: %w", args, s.Addr(), err)
	}
	return nil
}

// ServerOf returns the node that serves key's hash slot.
func (c *Cluster) ServerOf(t testing.TB, key string) *Server {
	t.Helper()
	client := c.Servers[0].client()
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	slot, err := client.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatalf("redistest: CLUSTER KEYSLOT %s: %v", key, err)
	}
	for i, s := range c.Servers {
		if first, last := slotRange(i, len(c.Servers)); first <= int(slot) && int(slot) <= last {
			return s
		}
	}
	t.Fatalf("redistest: no node serves slot %d", slot)
	return nil
}

// slotRange returns the first and last hash slots of the i-th of masters
// nodes.
func slotRange(i, masters int) (first, last int) {
	return i * hashSlots / masters, (i+1)*hashSlots/masters - 1
}

// MoveSlot hands the hash slot of key, which must hold no keys, to the
// node to, as a resharding does, and returns once every node agrees. The
// node that served it unsubscribes its shard channels' subscribers.
func (c *Cluster) MoveSlot(t testing.TB, key string, to *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := to.client()
	defer client.Close()
	slot, err := client.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatalf("redistest: CLUSTER KEYSLOT %s: %v", key, err)
	}
	id, err := client.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatalf("redistest: CLUSTER MYID: %v", err)
	}
	// The new owner first, then the others, as redis-cli --cluster does.
	servers := append([]*Server{to}, slices.DeleteFunc(slices.Clone(c.Servers), func(s *Server) bool { return s == to })...)
	for _, s := range servers {
		if err := command(ctx, s, "cluster", "setslot", slot, "node", id); err != nil {
			t.Fatalf("redistest: move slot %d: %v", slot, err)
		}
	}
}

// AddReplica starts a replica of master and returns once it has caught
// up. When master dies, the cluster promotes the replica in its place
// within a few seconds (the node timeout is 2 s).
func (c *Cluster) AddReplica(t testing.TB, master *Server) *Server {
	t.Helper()
	replica := Start(t, c.opts...)
	ctx, cancel := context.WithTimeout(context.Background(), formTimeout)
	defer cancel()
	client := master.client()
	defer client.Close()
	id, err := client.ClusterMyID(ctx).Result()
	// The replica learns of master's id by gossip, a moment after MEET.
	for polls := 0; err == nil && command(ctx, replica, "cluster", "replicate", id) != nil; polls++ {
		if polls%meetEvery == 0 {
			replica.meet(ctx, master)
		}
		err = sleep(ctx)
	}
	for err == nil && !replicaCaughtUp(ctx, replica) {
		err = sleep(ctx)
	}
	if err != nil {
		t.Fatalf("redistest: add a replica of %s: %v", master.Addr(), err)
	}
	return replica
}

// replicaCaughtUp reports whether s is a replica whose link to its master
// is up.
func replicaCaughtUp(ctx context.Context, s *Server) bool {
	client := s.client()
	defer client.Close()
	info, err := client.Info(ctx, "replication").Result()
	return err == nil && strings.Contains(info, "master_link_status:up")
}

// sleep waits pollInterval, or fails when ctx ends first.
func sleep(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(pollInterval):
		return nil
	}
}
