package sockets

import (
	"slices"
	"time"
)

// Info describes one agent, as the REST API shows it.
type Info struct {
	ID, Node, Transport, Codec, RemoteAddr string
	ConnectedAt, LastSeen                  time.Time
	Groups                                 []string
}

func (a *agent) info() Info {
	return Info{
		ID:          a.id,
		Node:        a.srv.cfg.NodeID,
		Transport:   a.transport,
		Codec:       a.codec.Name(),
		RemoteAddr:  a.remoteAddr,
		ConnectedAt: a.connectedAt,
		LastSeen:    time.Unix(0, a.lastReceive.Load()),
		Groups:      slices.Clone(a.groupList()),
	}
}

// groupList returns the agent's groups. The slice must not be modified.
func (a *agent) groupList() []string {
	if p := a.groups.Load(); p != nil {
		return *p
	}
	return nil
}

// Agent returns the agent with id.
func (s *Server) Agent(id string) (Info, error) {
	a := s.lookup(id)
	if a == nil {
		return Info{}, ErrAgentNotFound
	}
	return a.info(), nil
}

// List returns up to limit agents in id order, starting after the id
// after (empty: from the first), only members of group when group is not
// empty. more reports whether agents follow the last one returned. It
// walks an index kept in id order: a page costs its own size, not the
// node's agents.
func (s *Server) List(group, after string, limit int) (items []Info, more bool) {
	var agents []*agent
	s.mu.RLock()
	index := s.ordered
	if group != "" {
		index = s.groups[group]
	}
	if index != nil {
		index.AscendGreaterOrEqual(&agent{id: after}, func(a *agent) bool {
			switch {
			case a.id == after:
				return true
			case len(agents) == limit:
				more = true
				return false
			}
			agents = append(agents, a)
			return true
		})
	}
	s.mu.RUnlock()
	items = make([]Info, len(agents))
	for i, a := range agents {
		items[i] = a.info()
	}
	return items, more
}
