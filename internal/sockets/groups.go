package sockets

import (
	"slices"

	"github.com/google/btree"
)

// JoinGroup adds the agent to group; joining twice is harmless. It fails
// with ErrTooManyGroups when the agent is in --max-groups groups already.
func (s *Server) JoinGroup(agentID, group string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agents[agentID]
	if a == nil {
		return ErrAgentNotFound
	}
	return s.joinLocked(a, group)
}

// LeaveGroup removes the agent from group; leaving a group the agent is
// not in is harmless.
func (s *Server) LeaveGroup(agentID, group string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agents[agentID]
	if a == nil {
		return ErrAgentNotFound
	}
	s.leaveLocked(a, group)
	return nil
}

// PushGroup sends f to every agent of group on this node and returns how
// many had it queued.
func (s *Server) PushGroup(group string, f FanOut) int {
	return s.deliverAll(s.members(group), []FanOut{f})[0]
}

// members returns the agents of group, in id order.
func (s *Server) members(group string) []*agent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	index := s.groups[group]
	if index == nil {
		return nil
	}
	out := make([]*agent, 0, index.Len())
	index.Ascend(func(a *agent) bool {
		out = append(out, a)
		return true
	})
	return out
}

// joinLocked adds a to group, unless it is in --max-groups groups
// already; s.mu must be held. The agent's own list is
// replaced, never changed in place, so readers may load it without a lock.
func (s *Server) joinLocked(a *agent, group string) error {
	old := a.groupList()
	if slices.Contains(old, group) {
		return nil
	}
	if len(old) >= s.cfg.MaxGroups {
		return ErrTooManyGroups
	}
	joined := append(slices.Clip(old), group)
	a.groups.Store(&joined)
	members := s.groups[group]
	if members == nil {
		members = newAgentIndex()
		s.groups[group] = members
	}
	members.ReplaceOrInsert(a)
	return nil
}

// leaveLocked removes a from group; s.mu must be held.
func (s *Server) leaveLocked(a *agent, group string) {
	old := a.groupList()
	i := slices.Index(old, group)
	if i < 0 {
		return
	}
	left := slices.Delete(slices.Clone(old), i, i+1)
	a.groups.Store(&left)
	s.removeMemberLocked(a, group)
}

// removeMemberLocked takes a out of group's index; s.mu must be held.
func (s *Server) removeMemberLocked(a *agent, group string) {
	if members := s.groups[group]; members != nil {
		removeFromIndex(members, a)
		if members.Len() == 0 {
			delete(s.groups, group)
		}
	}
}

// newAgentIndex returns an empty index of agents in id order. One agent
// per id: a newer session replaces the older.
func newAgentIndex() *btree.BTreeG[*agent] {
	return btree.NewG(32, func(a, b *agent) bool { return a.id < b.id })
}

// removeFromIndex takes a out of index, unless a newer agent of its id
// took its place.
func removeFromIndex(index *btree.BTreeG[*agent], a *agent) {
	if got, ok := index.Get(a); ok && got == a {
		index.Delete(a)
	}
}
