package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/sockets"
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

// writeError answers with the problem that err stands for. This is the one
// place where the node's errors become HTTP statuses.
func writeError(w http.ResponseWriter, err error) {
	var reply *sockets.ReplyError
	switch {
	case errors.As(err, &reply):
		writeProblem(w, http.StatusBadGateway, "the client replied with an error", Problem{Code: &reply.Code, Msg: &reply.Msg})
	case errors.Is(err, sockets.ErrAgentNotFound):
		writeProblem(w, http.StatusNotFound, "no such agent", Problem{})
	case errors.Is(err, sockets.ErrAgentGone):
		writeProblem(w, http.StatusGone, "the agent left before the call completed", Problem{})
	case errors.Is(err, sockets.ErrQueueFull):
		writeProblem(w, http.StatusGone, "the agent's send queue is full: it is being closed as a slow consumer", Problem{})
	case errors.Is(err, sockets.ErrTimeout):
		writeProblem(w, http.StatusGatewayTimeout, "the client did not reply in time", Problem{})
	case errors.Is(err, sockets.ErrShuttingDown):
		writeProblem(w, http.StatusServiceUnavailable, "the node is shutting down", Problem{})
	case errors.Is(err, sockets.ErrMessageTooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, err.Error(), Problem{})
	case errors.Is(err, codec.ErrNotJSON):
		writeProblem(w, http.StatusBadRequest, "data_base64 must hold valid JSON for a json or msgpack client", Problem{})
	case errors.Is(err, sockets.ErrBadReply):
		writeProblem(w, http.StatusBadGateway, err.Error(), Problem{})
	case errors.Is(err, codec.ErrMalformed):
		// Data the agent's codec cannot carry, such as 1e400 for msgpack.
		writeProblem(w, http.StatusBadRequest, "data cannot be sent to this client: "+err.Error(), Problem{})
	default:
		writeProblem(w, http.StatusInternalServerError, err.Error(), Problem{})
	}
}

// outcome names how a call ended, for the calls metric.
func outcome(err error) string {
	var reply *sockets.ReplyError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &reply):
		return "client_error"
	case errors.Is(err, sockets.ErrAgentNotFound):
		return "not_found"
	case errors.Is(err, sockets.ErrAgentGone), errors.Is(err, sockets.ErrQueueFull):
		return "gone"
	case errors.Is(err, sockets.ErrTimeout):
		return "timeout"
	case errors.Is(err, sockets.ErrShuttingDown):
		return "unavailable"
	case errors.Is(err, sockets.ErrBadReply):
		return "client_error"
	case errors.Is(err, codec.ErrNotJSON), errors.Is(err, sockets.ErrMessageTooBig), errors.Is(err, codec.ErrMalformed):
		return "bad_request"
	}
	return "error"
}
