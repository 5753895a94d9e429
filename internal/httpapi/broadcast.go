package httpapi

import (
	"context"
	"net/http"
)

// PushGroupEvent pushes one event to every member of a group.
func (a *API) PushGroupEvent(w http.ResponseWriter, r *http.Request, group Group) {
	var req EventRequest
	if !checkID(w, "group", group) || !decodeBody(w, r, &req) {
		return
	}
	data, ok := checkMessage(w, req.Type, req.Data, req.DataBase64)
	if !ok {
		return
	}
	d := a.node.PushGroup(r.Context(), group, req.Type, data)
	writeJSON(w, http.StatusOK, GroupPushResult{Delivered: d.Delivered})
}

// Broadcast pushes one event to every agent. With async=true it answers
// 202 at once and delivers on a goroutine of its own, which Wait waits for.
func (a *API) Broadcast(w http.ResponseWriter, r *http.Request, params BroadcastParams) {
	var req EventRequest
	if !decodeBody(w, r, &req) {
		return
	}
	data, ok := checkMessage(w, req.Type, req.Data, req.DataBase64)
	if !ok {
		return
	}
	if params.Async != nil && *params.Async {
		a.background.Go(func() { a.node.Broadcast(context.Background(), req.Type, data) })
		w.WriteHeader(http.StatusAccepted)
		return
	}
	d := a.node.Broadcast(r.Context(), req.Type, data)
	writeJSON(w, http.StatusOK, BroadcastResult{Delivered: d.Delivered, Nodes: d.Nodes, Partial: d.Partial})
}

// Wait waits for the deliveries of asynchronous broadcasts still running.
// The node calls it once the HTTP server no longer takes requests.
func (a *API) Wait() { a.background.Wait() }
