package httpapi

import "net/http"

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
	writeJSON(w, http.StatusOK, GroupPushResult{Delivered: a.socks.PushGroup(group, req.Type, data)})
}

// Broadcast pushes one event to every agent. With async=true it answers
// 202 without the count.
func (a *API) Broadcast(w http.ResponseWriter, r *http.Request, params BroadcastParams) {
	var req EventRequest
	if !decodeBody(w, r, &req) {
		return
	}
	data, ok := checkMessage(w, req.Type, req.Data, req.DataBase64)
	if !ok {
		return
	}
	delivered := a.socks.Broadcast(req.Type, data)
	if params.Async != nil && *params.Async {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeJSON(w, http.StatusOK, BroadcastResult{Delivered: delivered, Nodes: 1})
}
