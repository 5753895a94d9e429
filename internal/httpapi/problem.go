package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/node"
)

// writeProblem answers with an RFC 9457 problem of status, explained by
// detail. Callers may add members to p first (a 502's code and msg).
func writeProblem(w http.ResponseWriter, status int, detail string, p Problem) {
	p.Status = status
	p.Title = http.StatusText(status)
	if detail != "" {
		p.Detail = &detail
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// writeError answers with the problem that err stands for.
func writeError(w http.ResponseWriter, err error) {
	status, detail, p := problemOf(err)
	if errors.Is(err, node.ErrOverloaded) {
		w.Header().Set("Retry-After", "1")
	}
	writeProblem(w, status, detail, p)
}

// problemOf is the one place where the node's errors become HTTP statuses:
// it returns the status, detail and extra members err stands for.
func problemOf(err error) (status int, detail string, p Problem) {
	var reply *node.ReplyError
	switch {
	case errors.As(err, &reply):
		return http.StatusBadGateway, "the client replied with an error", Problem{Code: &reply.Code, Msg: &reply.Msg}
	case errors.Is(err, node.ErrBadReply):
		return http.StatusBadGateway, err.Error(), Problem{}
	case errors.Is(err, node.ErrAgentNotFound):
		return http.StatusNotFound, "no such agent", Problem{}
	case errors.Is(err, node.ErrAgentGone):
		return http.StatusGone, "the agent left before the call completed", Problem{}
	case errors.Is(err, node.ErrQueueFull):
		return http.StatusGone, "the agent's send queue is full: it is being closed as a slow consumer", Problem{}
	case errors.Is(err, node.ErrTimeout):
		return http.StatusGatewayTimeout, "the client did not reply in time", Problem{}
	case errors.Is(err, node.ErrShuttingDown):
		return http.StatusServiceUnavailable, "the node is shutting down", Problem{}
	case errors.Is(err, node.ErrOverloaded):
		return http.StatusServiceUnavailable, "too many broadcasts in flight on this node; nothing was sent: try again after Retry-After seconds", Problem{}
	case errors.Is(err, node.ErrUnavailable):
		return http.StatusServiceUnavailable, "the cluster cannot be reached: " + err.Error(), Problem{}
	case errors.Is(err, node.ErrMessageTooBig):
		return http.StatusRequestEntityTooLarge, err.Error(), Problem{}
	case errors.Is(err, codec.ErrNotJSON):
		return http.StatusBadRequest, "data_base64 must hold valid JSON for a json or msgpack client", Problem{}
	case errors.Is(err, codec.ErrMalformed):
		// Data the agent's codec cannot carry, such as 1e400 for msgpack.
		return http.StatusBadRequest, "data cannot be sent to this client: " + err.Error(), Problem{}
	}
	return http.StatusInternalServerError, err.Error(), Problem{}
}

// outcome names how a call ended, for the calls metric, from the status
// it is answered with.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	switch status, _, _ := problemOf(err); status {
	case http.StatusBadGateway:
		return "client_error"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusGone:
		return "gone"
	case http.StatusGatewayTimeout:
		return "timeout"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "bad_request"
	}
	return "error"
}
