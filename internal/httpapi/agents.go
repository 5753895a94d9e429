package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/hotpot-rt/hotpot/internal/node"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// Call timeouts, in milliseconds.
const (
	defaultCallTimeoutMS = 5000
	maxCallTimeoutMS     = 60000
)

// checkID validates an agent id or group name from the path. On failure
// it has already answered 400 and returns false.
func checkID(w http.ResponseWriter, what, id string) bool {
	if !sockets.ValidID(id) {
		writeProblem(w, http.StatusBadRequest, what+" must be 1-128 characters of A-Z a-z 0-9 _ . : @ -", Problem{})
		return false
	}
	return true
}

// CallAgent sends the agent a call and answers with its reply.
func (a *API) CallAgent(w http.ResponseWriter, r *http.Request, id AgentID) {
	start := time.Now()
	var req CallRequest
	if !checkID(w, "agent id", id) || !a.decodeBody(w, r, &req) {
		return
	}
	data, ok := checkMessage(w, req.Type, req.Data, req.DataBase64)
	if !ok {
		return
	}
	timeout := defaultCallTimeoutMS
	if req.TimeoutMs != nil {
		timeout = *req.TimeoutMs
	}
	if timeout < 1 || timeout > maxCallTimeoutMS {
		writeProblem(w, http.StatusBadRequest, "timeout_ms must be between 1 and 60000", Problem{})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(timeout)*time.Millisecond)
	defer cancel()
	reply, err := a.node.Call(ctx, id, req.Type, data)
	a.metrics.Calls.WithLabelValues(outcome(err)).Inc()
	a.metrics.CallSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		if r.Context().Err() != nil {
			return // the web service hung up; nobody to answer
		}
		writeError(w, err, about{agent: id, timeoutMS: timeout})
		return
	}
	res := CallResult{Data: reply.JSON, DataBase64: reply.Bytes}
	if res.Data == nil && res.DataBase64 == nil {
		res.Data = []byte("null")
	}
	writeJSON(w, http.StatusOK, res)
}

// PushAgentEvent queues one event for the agent.
func (a *API) PushAgentEvent(w http.ResponseWriter, r *http.Request, id AgentID) {
	var req EventRequest
	if !checkID(w, "agent id", id) || !a.decodeBody(w, r, &req) {
		return
	}
	data, ok := checkMessage(w, req.Type, req.Data, req.DataBase64)
	if !ok {
		return
	}
	if err := a.node.Push(r.Context(), id, req.Type, data); err != nil {
		writeError(w, err, about{agent: id})
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// KickAgent closes the agent with a reason (default "kicked").
func (a *API) KickAgent(w http.ResponseWriter, r *http.Request, id AgentID, params KickAgentParams) {
	if !checkID(w, "agent id", id) {
		return
	}
	reason := sockets.ReasonKicked
	if params.Reason != nil {
		reason = *params.Reason
	}
	if reason == "" || len(reason) > 123 {
		writeProblem(w, http.StatusBadRequest, "reason must be 1 to 123 bytes", Problem{})
		return
	}
	if err := a.node.Kick(r.Context(), id, reason); err != nil {
		writeError(w, err, about{agent: id})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GetAgent describes one agent.
func (a *API) GetAgent(w http.ResponseWriter, r *http.Request, id AgentID) {
	if !checkID(w, "agent id", id) {
		return
	}
	info, err := a.node.Agent(r.Context(), id)
	if err != nil {
		writeError(w, err, about{agent: id})
		return
	}
	writeJSON(w, http.StatusOK, agentOf(info))
}

// ListAgents answers one page of agents in id order.
func (a *API) ListAgents(w http.ResponseWriter, r *http.Request, params ListAgentsParams) {
	limit := 100
	if params.Limit != nil {
		limit = *params.Limit
	}
	if limit < 1 || limit > 1000 {
		writeProblem(w, http.StatusBadRequest, "limit must be between 1 and 1000", Problem{})
		return
	}
	after := ""
	if params.Cursor != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*params.Cursor)
		if err != nil || !sockets.ValidID(string(raw)) {
			writeProblem(w, http.StatusBadRequest, "cursor is not one this API gave out", Problem{})
			return
		}
		after = string(raw)
	}
	group := ""
	if params.Group != nil {
		if group = *params.Group; !checkID(w, "group", group) {
			return
		}
	}
	q := node.ListQuery{Group: group, After: after, Limit: limit}
	if params.Node != nil {
		q.Node = *params.Node
	}
	items, more := a.node.List(r.Context(), q)
	list := AgentList{Items: make([]Agent, 0, len(items))}
	for _, info := range items {
		list.Items = append(list.Items, agentOf(info))
	}
	if more && len(items) > 0 {
		next := base64.RawURLEncoding.EncodeToString([]byte(items[len(items)-1].ID))
		list.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, list)
}

// JoinGroup adds the agent to a group.
func (a *API) JoinGroup(w http.ResponseWriter, r *http.Request, id AgentID, group Group) {
	a.changeGroup(w, r, id, group, a.node.JoinGroup)
}

// LeaveGroup removes the agent from a group.
func (a *API) LeaveGroup(w http.ResponseWriter, r *http.Request, id AgentID, group Group) {
	a.changeGroup(w, r, id, group, a.node.LeaveGroup)
}

func (a *API) changeGroup(w http.ResponseWriter, r *http.Request, id, group string, change func(ctx context.Context, id, group string) error) {
	if !checkID(w, "agent id", id) || !checkID(w, "group", group) {
		return
	}
	if err := change(r.Context(), id, group); err != nil {
		writeError(w, err, about{agent: id})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func agentOf(info sockets.Info) Agent {
	groups := info.Groups
	if groups == nil {
		groups = []string{}
	}
	return Agent{
		ID:          info.ID,
		Node:        info.Node,
		Transport:   AgentTransport(info.Transport),
		Codec:       AgentCodec(info.Codec),
		RemoteAddr:  info.RemoteAddr,
		ConnectedAt: info.ConnectedAt.UTC(),
		LastSeen:    info.LastSeen.UTC(),
		Groups:      groups,
	}
}
