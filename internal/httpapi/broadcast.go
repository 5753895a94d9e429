package httpapi

import "net/http"

// PushGroupEvent pushes one event to every member of a group.
func (a *API) PushGroupEvent(w http.ResponseWriter, r *http.Request, group Group) {
	var req EventRequest
	if !checkID(w, "group", group) || !a.decodeBody(w, r, &req) {
		return
	}
	data, ok := checkMessage(w, req.Type, req.Data, req.DataBase64)
	if !ok {
		return
	}
	d, err := a.node.PushGroup(r.Context(), group, req.Type, data)
	if err != nil {
		writeError(w, err, about{})
		return
	}
	writeJSON(w, http.StatusOK, GroupPushResult{Delivered: d.Delivered})
}

// Broadcast pushes one event to every agent. With async=true it answers
// 202 at once and the node delivers on a goroutine of its own.
func (a *API) Broadcast(w http.ResponseWriter, r *http.Request, params BroadcastParams) {
	var req EventRequest
	if !a.decodeBody(w, r, &req) {
		return
	}
	data, ok := checkMessage(w, req.Type, req.Data, req.DataBase64)
	if !ok {
		return
	}
	if params.Async != nil && *params.Async {
		if err := a.node.BroadcastAsync(req.Type, data); err != nil {
			writeError(w, err, about{})
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	d, err := a.node.Broadcast(r.Context(), req.Type, data)
	if err != nil {
		writeError(w, err, about{})
		return
	}
	writeJSON(w, http.StatusOK, BroadcastResult{Delivered: d.Delivered, Nodes: d.Nodes, Partial: d.Partial})
}
