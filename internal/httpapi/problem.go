package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/node"
)

// problemType is the type of every problem the API answers: the status
// says all there is to say (RFC 9457, section 4.2.1).
const problemType = "about:blank"

// writeProblem answers with an RFC 9457 problem of status, explained by
// detail. Callers may add members to p first (a 502's code and msg).
func writeProblem(w http.ResponseWriter, status int, detail string, p Problem) {
	typ := problemType
	p.Type = &typ
	p.Status = status
	p.Title = http.StatusText(status)
	if detail != "" {
		p.Detail = &detail
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// about is what a request was about, for the detail of its problem to
// name: the agent it addressed, if any, and a call's timeout.
type about struct {
	agent     string
	timeoutMS int // a call's; zero for any other request
}

// who names the agent in a detail.
func (ab about) who() string {
	if ab.agent == "" {
		return "the agent"
	}
	return fmt.Sprintf("agent %q", ab.agent)
}

// writeError answers with the problem that err stands for, in a request
// about ab.
func writeError(w http.ResponseWriter, err error, ab about) {
	status, detail, p := problemOf(err, ab)
	if errors.Is(err, node.ErrOverloaded) {
		w.Header().Set("Retry-After", "1")
	}
	writeProblem(w, status, detail, p)
}

// problemOf is the one place where the node's errors become HTTP statuses:
// it returns the status, detail and extra members err stands for, in a
// request about ab. Details speak of what the caller sent and can act
// on; what went wrong inside the cluster is the node's log's business.
func problemOf(err error, ab about) (status int, detail string, p Problem) {
	var reply *node.ReplyError
	switch {
	case errors.As(err, &reply):
		return http.StatusBadGateway, ab.who() + " replied with an error", Problem{Code: &reply.Code, Msg: &reply.Msg}
	case errors.Is(err, node.ErrBadReply):
		return http.StatusBadGateway, err.Error(), Problem{}
	case errors.Is(err, node.ErrAgentNotFound):
		return http.StatusNotFound, ab.who() + " is not connected", Problem{}
	case errors.Is(err, node.ErrAgentGone) && ab.timeoutMS > 0:
		return http.StatusGone, ab.who() + " disconnected before replying", Problem{}
	case errors.Is(err, node.ErrAgentGone):
		return http.StatusGone, "the node of " + ab.who() + " stopped answering: the agent is gone", Problem{}
	case errors.Is(err, node.ErrQueueFull):
		return http.StatusGone, "the send queue of " + ab.who() + " is full: the agent is being disconnected as a slow consumer", Problem{}
	case errors.Is(err, node.ErrTimeout) && ab.timeoutMS > 0:
		return http.StatusGatewayTimeout, fmt.Sprintf("%s did not reply within %d ms", ab.who(), ab.timeoutMS), Problem{}
	case errors.Is(err, node.ErrTimeout):
		return http.StatusGatewayTimeout, "the node of " + ab.who() + " did not answer in time", Problem{}
	case errors.Is(err, node.ErrShuttingDown):
		return http.StatusServiceUnavailable, "the node is shutting down", Problem{}
	case errors.Is(err, node.ErrTooManyCalls):
		return http.StatusTooManyRequests, ab.who() + " has --max-pending-calls calls waiting for its replies already; try again once some are answered", Problem{}
	case errors.Is(err, node.ErrTooManyGroups):
		return http.StatusTooManyRequests, ab.who() + " is in --max-groups groups already; it must leave one first", Problem{}
	case errors.Is(err, node.ErrOverloaded):
		return http.StatusServiceUnavailable, "too many broadcasts in flight on this node; nothing was sent: try again after Retry-After seconds", Problem{}
	case errors.Is(err, node.ErrUnavailable):
		return http.StatusServiceUnavailable, "the cluster (Redis) cannot be reached; try again later", Problem{}
	case errors.Is(err, node.ErrMessageTooBig) && ab.agent != "":
		return http.StatusRequestEntityTooLarge, "the message, encoded for " + ab.who() + ", is larger than its connection carries (--max-message-bytes)", Problem{}
	case errors.Is(err, node.ErrMessageTooBig):
		return http.StatusRequestEntityTooLarge, "the message, encoded, is larger than the agents' connections carry (--max-message-bytes)", Problem{}
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
	switch status, _, _ := problemOf(err, about{}); status {
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
	case http.StatusTooManyRequests:
		return "too_many"
	}
	return "error"
}

// paramProblem says what is wrong with a request's parameters in the
// caller's terms, not the parser's.
func paramProblem(err error) string {
	var format *InvalidParamFormatError
	var required *RequiredParamError
	switch {
	case errors.As(err, &format):
		return fmt.Sprintf("parameter %s has the wrong form (see /openapi.yaml)", format.ParamName)
	case errors.As(err, &required):
		return fmt.Sprintf("parameter %s is required", required.ParamName)
	}
	return "bad parameters: see /openapi.yaml"
}

// bodyProblem says what is wrong with a JSON request body in the caller's
// terms: which member has the wrong type, which is unknown, where the
// JSON breaks.
func bodyProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("member %q must be %s, not %s", typ.Field, jsonKind(typ.Type), typ.Value)
	case errors.As(err, &typ):
		return "the body must be a JSON object, not " + typ.Value
	case errors.Is(err, io.EOF):
		return "the body is empty: send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends in the middle of its JSON"
	case errors.As(err, new(base64.CorruptInputError)):
		return "data_base64 is not valid base64: " + err.Error()
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown member " + field
	}
	return err.Error()
}

// jsonKind names the JSON type that a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Bool:
		return "true or false"
	}
	return "an object"
}
