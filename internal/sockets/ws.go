package sockets

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hotpot-rt/hotpot/internal/auth"
	"github.com/hotpot-rt/hotpot/internal/codec"
)

// Subprotocols a WebSocket client may ask for to choose its codec.
var subprotocols = []string{"hotpot.json", "hotpot.msgpack", "hotpot.proto"}

// errTooManyConns refuses a connection beyond --max-conns.
var errTooManyConns = errors.New("too many connections")

// ServeWS upgrades r to a WebSocket agent. The codec comes from the
// negotiated subprotocol (hotpot.json, hotpot.msgpack, hotpot.proto), else
// ?codec=, else JSON; the id from ?id=, else it is generated. It answers
// 400 for a bad id or codec, 403 for a refused Origin and 503 beyond
// --max-conns or while shutting down. The handler returns once the agent
// runs on its own goroutine.
func (s *Server) ServeWS(w http.ResponseWriter, r *http.Request) {
	queryCodec := codec.JSON
	if name := r.URL.Query().Get("codec"); name != "" {
		c, ok := codec.Lookup(name)
		if !ok {
			http.Error(w, "unknown codec "+name+": want json, msgpack or proto", http.StatusBadRequest)
			return
		}
		queryCodec = c
	}
	who, status, err := s.identify(r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	if err := s.admit(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}

	hs, err := acceptWebSocket(w, r, subprotocols, s.cfg.AllowedOrigins)
	if err != nil {
		s.release()
		s.log.Debug("websocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := queryCodec
	if hs.subprotocol != "" {
		c, _ = codec.Lookup(strings.TrimPrefix(hs.subprotocol, "hotpot."))
	}
	link := newWSLink(hs.conn, hs.br, c.Binary(), s.cfg.MaxMessageBytes)
	a := &agent{
		srv:         s,
		id:          who.Subject,
		expires:     who.Expires,
		transport:   TransportWS,
		codec:       c,
		remoteAddr:  remoteAddr(r, s.cfg.TrustedProxies),
		connectedAt: time.Now(),
		maxFrame:    s.cfg.MaxMessageBytes,
		stats:       s.ws,
		fixed:       s.fixed[c],
		link:        link,
	}
	link.received = a.received
	if !s.goLoop(func() { s.runAgent(a, who.Groups) }) {
		link.close(ReasonShutdown)
		link.abort()
		s.release()
	}
}

// identify returns who a WebSocket client is: with a JWT secret, the
// claims of its token (?token= or Authorization: Bearer), else the id it
// asks for with ?id=, or a generated one, with no groups and no expiry.
// On failure it returns the HTTP status to refuse the handshake with.
func (s *Server) identify(r *http.Request) (who auth.Claims, status int, err error) {
	if s.verifier == nil {
		who.Subject, err = requestedID(r)
		return who, http.StatusBadRequest, err
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		token = auth.BearerToken(r)
	}
	who, err = s.verifier.Verify(token)
	return who, http.StatusUnauthorized, err
}

// runAgent registers a, with groups, and starts it.
func (s *Server) runAgent(a *agent, groups []string) {
	a.holdWelcome()
	if err := s.register(a, groups); err != nil {
		a.dropWelcome()
		a.link.abort()
		s.release()
		return
	}
	s.registered(a.id, a.session)
	a.run()
}
