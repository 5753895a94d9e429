package sockets

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxIDBytes is the longest agent id.
const maxIDBytes = 128

// errBadID rejects an agent id outside [A-Za-z0-9_.:@-]{1,128}.
var errBadID = errors.New("agent id must be 1-128 characters of A-Z a-z 0-9 _ . : @ -")

// ValidID reports whether id may name an agent: 1–128 characters of
// [A-Za-z0-9_.:@-].
func ValidID(id string) bool {
	if id == "" || len(id) > maxIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '.' || c == ':' || c == '@' || c == '-':
		default:
			return false
		}
	}
	return true
}

// newAgentID generates an id for a client that did not ask for one.
func newAgentID() string {
	b := make([]byte, 9)
	rand.Read(b) // never fails; see crypto/rand.Read
	return hex.EncodeToString(b)
}

// requestedID returns the id a WebSocket client asked for with ?id=, or a
// generated one.
func requestedID(r *http.Request) (string, error) {
	if !r.URL.Query().Has("id") {
		return newAgentID(), nil
	}
	id := r.URL.Query().Get("id")
	if !ValidID(id) {
		return "", errBadID
	}
	return id, nil
}

// remoteAddr returns the client address of r: the connection's peer, or,
// when that peer is a trusted proxy, the rightmost X-Forwarded-For entry
// that is not a trusted proxy (else X-Real-IP).
func remoteAddr(r *http.Request, trusted []netip.Prefix) string {
	peer := r.RemoteAddr
	if len(trusted) == 0 || !isTrusted(hostOf(peer), trusted) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		addr, err := netip.ParseAddr(hostOf(hop))
		if err != nil {
			break // a garbled header ends what can be believed
		}
		if !isTrusted(addr.String(), trusted) {
			return addr.String()
		}
	}
	if real := strings.TrimSpace(r.Header.Get("X-Real-IP")); real != "" {
		if addr, err := netip.ParseAddr(hostOf(real)); err == nil {
			return addr.String()
		}
	}
	return peer
}

// hostOf strips a port, if any, from an address.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return strings.Trim(addr, "[]")
}

func isTrusted(host string, trusted []netip.Prefix) bool {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
