package sockets

import (
	"slices"

	"github.com/hotpot-rt/hotpot/internal/codec"
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

// PushGroup sends one event to every agent of group on this node and
// returns how many had it queued. The event is encoded once per codec.
func (s *Server) PushGroup(group, typ string, data codec.Payload) int {
	return deliver(s.members(group), typ, data)
}

// members returns the agents of group.
func (s *Server) members(group string) []*agent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*agent, 0, len(s.groups[group]))
	for a := range s.groups[group] {
		out = append(out, a)
	}
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
		members = make(map[*agent]struct{})
		s.groups[group] = members
	}
	members[a] = struct{}{}
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
	delete(s.groups[group], a)
	if len(s.groups[group]) == 0 {
		delete(s.groups, group)
	}
}
