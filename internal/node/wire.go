package node

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/hotpot-rt/hotpot/internal/codec"
	"github.com/hotpot-rt/hotpot/internal/sockets"
)

// Operations one node asks of another over the bus.
const (
	opCall byte = iota + 1
	opPush
	opKick
	opJoin
	opLeave
	opAgent
	opList
	opBroadcast
	opPushGroup
)

// request is what a node asks of another: an operation on one of its
// agents, or on all of them. Fields an operation does not use stay zero.
type request struct {
	op                byte
	agent, typ, group string
	// reason of a kick; session the one session to kick (0: any).
	reason  string
	session uint64
	// timeout of a call.
	timeout time.Duration
	data    codec.Payload
	// after and limit page a list.
	after string
	limit int
}

// response is a node's answer to a request.
type response struct {
	// status is how the operation ended (statusOK, …); code and msg carry
	// a client's error reply, or an unexpected error's text.
	status    byte
	code      int32
	msg       string
	data      codec.Payload
	delivered int
	agents    []sockets.Info
	more      bool
}

// Statuses of a response: the errors that cross the bus, by number.
const (
	statusOK byte = iota
	statusNotHere
	statusGone
	statusQueueFull
	statusTimeout
	statusShuttingDown
	statusTooBig
	statusNotJSON
	statusMalformed
	statusBadReply
	statusReplyError
	statusOverloaded
	statusTooManyCalls
	statusTooManyGroups
	statusOther
)

// statusOf is the status that stands for err on the bus.
func statusOf(err error) (status byte, code int32, msg string) {
	var reply *sockets.ReplyError
	switch {
	case err == nil:
		return statusOK, 0, ""
	case errors.As(err, &reply):
		return statusReplyError, reply.Code, reply.Msg
	case errors.Is(err, sockets.ErrAgentNotFound):
		return statusNotHere, 0, ""
	case errors.Is(err, sockets.ErrAgentGone):
		return statusGone, 0, ""
	case errors.Is(err, sockets.ErrQueueFull):
		return statusQueueFull, 0, ""
	case errors.Is(err, sockets.ErrTimeout):
		return statusTimeout, 0, ""
	case errors.Is(err, sockets.ErrShuttingDown):
		return statusShuttingDown, 0, ""
	case errors.Is(err, sockets.ErrMessageTooBig):
		return statusTooBig, 0, ""
	case errors.Is(err, codec.ErrNotJSON):
		return statusNotJSON, 0, ""
	case errors.Is(err, codec.ErrMalformed):
		return statusMalformed, 0, err.Error()
	case errors.Is(err, sockets.ErrBadReply):
		return statusBadReply, 0, err.Error()
	case errors.Is(err, ErrOverloaded):
		return statusOverloaded, 0, ""
	case errors.Is(err, sockets.ErrTooManyCalls):
		return statusTooManyCalls, 0, ""
	case errors.Is(err, sockets.ErrTooManyGroups):
		return statusTooManyGroups, 0, ""
	}
	return statusOther, 0, err.Error()
}

// errNotHere is a remote node's answer that the agent is not there (any
// more): the caller looks its owner up again.
var errNotHere = errors.New("agent not on that node")

// err is the error the response stands for, as the caller's own.
func (r *response) err() error {
	switch r.status {
	case statusOK:
		return nil
	case statusNotHere:
		return errNotHere
	case statusGone:
		return ErrAgentGone
	case statusQueueFull:
		return ErrQueueFull
	case statusTimeout:
		return ErrTimeout
	case statusShuttingDown:
		return ErrShuttingDown
	case statusTooBig:
		return ErrMessageTooBig
	case statusNotJSON:
		return codec.ErrNotJSON
	case statusMalformed:
		return wrapText(codec.ErrMalformed, r.msg)
	case statusBadReply:
		return wrapText(ErrBadReply, r.msg)
	case statusReplyError:
		return &ReplyError{Code: r.code, Msg: r.msg}
	case statusOverloaded:
		return ErrOverloaded
	case statusTooManyCalls:
		return ErrTooManyCalls
	case statusTooManyGroups:
		return ErrTooManyGroups
	}
	return errors.New(r.msg)
}

// textError is an error that kept only its text on its way between
// nodes, and the sentinel it wraps.
type textError struct {
	sentinel error
	text     string
}

func wrapText(sentinel error, text string) error { return &textError{sentinel, text} }
func (e *textError) Error() string               { return e.text }
func (e *textError) Unwrap() error               { return e.sentinel }

// Payload forms on the wire.
const (
	payloadNone byte = iota
	payloadJSON
	payloadBytes
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendPayload(b []byte, p codec.Payload) []byte {
	switch {
	case p.JSON != nil:
		b = append(b, payloadJSON)
		return appendString(b, string(p.JSON))
	case p.Bytes != nil:
		b = append(b, payloadBytes)
		return appendString(b, string(p.Bytes))
	}
	return append(b, payloadNone)
}

func (q *request) append(b []byte) []byte {
	b = append(b, q.op)
	b = appendString(b, q.agent)
	b = appendString(b, q.typ)
	b = appendString(b, q.group)
	b = appendString(b, q.reason)
	b = binary.AppendUvarint(b, q.session)
	b = binary.AppendVarint(b, int64(q.timeout))
	b = appendPayload(b, q.data)
	b = appendString(b, q.after)
	return binary.AppendVarint(b, int64(q.limit))
}

func (r *response) append(b []byte) []byte {
	b = append(b, r.status)
	b = binary.AppendVarint(b, int64(r.code))
	b = appendString(b, r.msg)
	b = appendPayload(b, r.data)
	b = binary.AppendVarint(b, int64(r.delivered))
	b = binary.AppendUvarint(b, uint64(len(r.agents)))
	for _, a := range r.agents {
		for _, s := range [...]string{a.ID, a.Node, a.Transport, a.Codec, a.RemoteAddr} {
			b = appendString(b, s)
		}
		b = binary.AppendVarint(b, a.ConnectedAt.UnixNano())
		b = binary.AppendVarint(b, a.LastSeen.UnixNano())
		b = binary.AppendUvarint(b, uint64(len(a.Groups)))
		for _, g := range a.Groups {
			b = appendString(b, g)
		}
	}
	if r.more {
		return append(b, 1)
	}
	return append(b, 0)
}

var errMalformedMessage = errors.New("malformed message between nodes")

// reader reads what append wrote; its first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errMalformedMessage
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errMalformedMessage
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errMalformedMessage
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns the next length-prefixed bytes, aliasing the message.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || uint64(len(r.b)) < n {
		r.err = errMalformedMessage
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) payload() codec.Payload {
	switch r.byte() {
	case payloadJSON:
		return codec.Payload{JSON: r.bytes()}
	case payloadBytes:
		return codec.Payload{Bytes: r.bytes()}
	case payloadNone:
		return codec.Payload{}
	}
	r.err = errMalformedMessage
	return codec.Payload{}
}

func parseRequest(b []byte) (request, error) {
	r := reader{b: b}
	q := request{
		op:      r.byte(),
		agent:   r.string(),
		typ:     r.string(),
		group:   r.string(),
		reason:  r.string(),
		session: r.uvarint(),
		timeout: time.Duration(r.varint()),
		data:    r.payload(),
		after:   r.string(),
		limit:   int(r.varint()),
	}
	return q, r.err
}

func parseResponse(b []byte) (response, error) {
	r := reader{b: b}
	res := response{
		status:    r.byte(),
		code:      int32(r.varint()),
		msg:       r.string(),
		data:      r.payload(),
		delivered: int(r.varint()),
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each agent takes several bytes
		return response{}, errMalformedMessage
	}
	for range n {
		a := sockets.Info{ID: r.string(), Node: r.string(), Transport: r.string(), Codec: r.string(), RemoteAddr: r.string()}
		a.ConnectedAt = time.Unix(0, r.varint())
		a.LastSeen = time.Unix(0, r.varint())
		groups := r.uvarint()
		if groups > uint64(len(r.b)) {
			return response{}, errMalformedMessage
		}
		for range groups {
			a.Groups = append(a.Groups, r.string())
		}
		res.agents = append(res.agents, a)
	}
	res.more = r.byte() == 1
	return res, r.err
}
